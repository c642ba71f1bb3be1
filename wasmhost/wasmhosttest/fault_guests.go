package wasmhosttest

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/tlsgate/tlsgate/wasmhost"
)

// outcome is what a call must end with.
type outcome struct {
	hit      int                // > 0: a hit of exactly this many bytes
	miss     bool               // wasmhost.ErrMiss
	noExport bool               // wasmhost.ErrNoExport
	fault    wasmhost.FaultKind // a *wasmhost.GuestError of this kind
}

func (o outcome) String() string {
	switch {
	case o.hit > 0:
		return "a hit"
	case o.miss:
		return "wasmhost.ErrMiss"
	case o.noExport:
		return "wasmhost.ErrNoExport"
	case o.fault != "":
		return "a *wasmhost.GuestError of kind " + string(o.fault)
	}
	return "success"
}

// check reports how got/err differ from o, or "" when they match.
func (o outcome) check(got []byte, err error) string {
	var ge *wasmhost.GuestError
	var ok bool
	switch {
	case o.hit > 0:
		ok = err == nil && len(got) == o.hit
	case o.miss:
		ok = errors.Is(err, wasmhost.ErrMiss) && got == nil
	case o.noExport:
		ok = errors.Is(err, wasmhost.ErrNoExport) && got == nil
	case o.fault != "":
		ok = errors.As(err, &ge) && ge.Kind == o.fault && got == nil
	default:
		ok = err == nil
	}
	if ok {
		return ""
	}
	if o.hit > 0 {
		return fmt.Sprintf("got (%d bytes, %v), want a hit of %d bytes", len(got), err, o.hit)
	}
	return fmt.Sprintf("got (%d bytes, %v), want %s", len(got), err, o)
}

// faultGuest is one row of TestHost: a guest from testdata/ and the outcome
// its header documents.
type faultGuest struct {
	name    string   // guest file name without .wasm
	refused []string // non-nil: Load must fail with an error naming each of these
	invalid bool     // the refusal wraps wasmhost.ErrInvalidModule
	fetch   outcome  // a fetch with an identifier that does not start with 0x00
	store   outcome  // any store
	repeat  int      // calls of the faulting fetch, default 1
}

// faultGuests is the table TestHost runs; docs/abi.md lists the same.
var faultGuests = []faultGuest{
	{name: "no_exports", refused: []string{"tlsgate_on_session_fetch"}, invalid: true},
	{name: "wrong_marker", refused: []string{"tlsgate_abi_v1"}, invalid: true},
	{name: "marker_signature", refused: []string{"tlsgate_abi_v1"}, invalid: true},
	{name: "no_memory", refused: []string{"memory"}, invalid: true},
	{name: "huge_memory", refused: []string{"memory"}, invalid: true},
	{name: "unknown_import", refused: []string{"env", "foo"}, invalid: true},
	{name: "unknown_host_func", refused: []string{"nope"}, invalid: true},
	{name: "bad_import_signature", refused: []string{"input"}, invalid: true},
	{name: "bad_signature", refused: []string{"tlsgate_on_session_fetch"}, invalid: true},
	{name: "init_fails", refused: []string{"tlsgate_on_init"}},
	{name: "loop_fetch", fetch: outcome{fault: wasmhost.FaultTimeout}},
	{name: "trap", fetch: outcome{fault: wasmhost.FaultTrap}},
	{name: "grow_memory", fetch: outcome{fault: wasmhost.FaultMemory}},
	{name: "wild_pointers", fetch: outcome{fault: wasmhost.FaultMisuse}},
	{name: "bad_handle", fetch: outcome{fault: wasmhost.FaultMisuse}},
	{name: "oversized_session", fetch: outcome{fault: wasmhost.FaultStatus}},
	{name: "odd_status", fetch: outcome{fault: wasmhost.FaultStatus}, store: outcome{fault: wasmhost.FaultStatus}},
	{name: "start_section", fetch: outcome{miss: true}, store: outcome{noExport: true}},
	{name: "leak_handles", fetch: outcome{miss: true}, repeat: 3},
	{name: "garbage_session", fetch: outcome{hit: 64}},
	{name: "fetch_only", fetch: outcome{miss: true}, store: outcome{noExport: true}},
	{name: "store_only", fetch: outcome{noExport: true}},
	{name: "sandbox", fetch: outcome{miss: true}},
}

// loopDeadline is the deadline TestHost gives the fetch of loop_fetch; the
// call must return within loopDeadline+loopSlack. The slack is generous: a
// host that ignores the deadline never returns, while a loaded machine may
// take a while to schedule the interrupted call's return.
const (
	loopDeadline = 300 * time.Millisecond
	loopSlack    = 5 * time.Second
)

// TestHost runs every fault guest of the kit on h and checks its documented
// outcome: a bad module is refused at Load with an error naming the problem;
// a misbehaving call ends in wasmhost.ErrMiss, wasmhost.ErrNoExport or a
// *wasmhost.GuestError of the documented kind; and afterwards the same
// loaded guest still serves a valid call. h must cap guest memory below
// 256 MiB.
func TestHost(t *testing.T, h Host) {
	t.Helper()
	k := &kit{t: t, h: h, timeout: 30 * time.Second} // calls that must succeed, or fault as documented, in time
	for _, tc := range faultGuests {
		t.Run(tc.name, func(t *testing.T) {
			k := &kit{t: t, h: h, timeout: k.timeout}
			spec := GuestSpec{Name: tc.name, Tenant: uniqueTenant("host"), Wasm: guest(tc.name)}
			g, err := k.tryLoad(spec)
			if tc.refused != nil {
				if err == nil {
					t.Fatalf("Load accepted %s, want it refused naming %q", tc.name, tc.refused)
				}
				if tc.invalid && !errors.Is(err, wasmhost.ErrInvalidModule) {
					t.Errorf("Load error %q does not wrap wasmhost.ErrInvalidModule", err)
				}
				for _, s := range tc.refused {
					if !strings.Contains(err.Error(), s) {
						t.Errorf("Load error %q does not name %q", err, s)
					}
				}
				return
			}
			if err != nil {
				t.Fatalf("Load refused %s: %v", tc.name, err)
			}
			k.checkFault(t, g, tc)
		})
	}

	t.Run("hook_faults", func(t *testing.T) { testHookFaults(t, k) })
	t.Run("inputs outside the ABI's domain", func(t *testing.T) { testInputDomain(t, k) })

	t.Run("garbage_session randomness is real", func(t *testing.T) {
		// Two fresh instances: a deterministic random source gives both the same bytes.
		var first []byte
		for i := range 2 {
			g := k.load(t, GuestSpec{Name: "garbage_session", Tenant: uniqueTenant("random"), Wasm: guest("garbage_session")})
			got, err := k.fetch(g, fetchInput(faultID()))
			if err != nil {
				t.Fatalf("fetch %d: %v", i, err)
			}
			if i == 1 && bytes.Equal(first, got) {
				t.Fatalf("two fresh instances drew the same 64 random bytes: WASI random_get is not crypto/rand")
			}
			first = got
		}
	})
}

// checkFault makes tc's faulting calls on g, then checks that g still serves.
func (k *kit) checkFault(t *testing.T, g Guest, tc faultGuest) {
	t.Helper()
	for i := range max(tc.repeat, 1) {
		ctx, cancel := context.WithTimeout(context.Background(), k.timeout)
		if tc.fetch.fault == wasmhost.FaultTimeout {
			cancel()
			ctx, cancel = context.WithTimeout(context.Background(), loopDeadline)
		}
		start := time.Now()
		got, err := g.Fetch(ctx, fetchInput(faultID()))
		took := time.Since(start)
		cancel()
		if msg := tc.fetch.check(got, err); msg != "" {
			if tc.name == "sandbox" && err == nil {
				msg = "sandbox check " + string(got) + " failed"
			}
			t.Errorf("fetch %d: %s", i, msg)
		}
		if tc.fetch.fault == wasmhost.FaultTimeout && took > loopDeadline+loopSlack {
			t.Errorf("fetch %d returned after %v, want within %v of its %v deadline", i, took, loopSlack, loopDeadline)
		}
	}
	if msg := tc.store.check(nil, k.store(g, storeInput(faultID(), []byte("session"), time.Hour))); msg != "" {
		t.Errorf("store: %s", msg)
	}
	// The same loaded guest keeps serving: an identifier starting with 0x00
	// is a plain miss for every fault guest.
	want := outcome{miss: true}
	if tc.fetch.noExport {
		want = outcome{noExport: true}
	}
	for i := range 2 {
		got, err := k.fetch(g, fetchInput(make([]byte, 32)))
		if msg := want.check(got, err); msg != "" {
			t.Errorf("valid fetch %d after the fault: %s", i, msg)
		}
	}
}

// faultID is a session identifier that does not start with 0x00, so the
// fault guests commit their fault.
func faultID() []byte {
	id := randomBytes(32)
	id[0] = 0xff
	return id
}

// testHookFaults runs hook_faults.wasm through each ABI 1.1 hook in each of
// its modes and checks the documented outcome, then that the same loaded
// guest serves that hook again.
func testHookFaults(t *testing.T, k *kit) {
	hello := wasmhost.ClientHelloInput{ServerName: "shop.test", ClientAddr: "192.0.2.1:4000", JA4: "t13d_x_y"}
	certs, err := wasmhost.EncodeCertificates([]wasmhost.CertificateInfo{{Name: "default"}})
	if err != nil {
		t.Fatal(err)
	}
	hooks := []struct {
		name string
		call func(ctx context.Context, g HookGuest) error // nil error: the plain mode's documented outcome
	}{
		{"tlsgate_on_client_hello", func(ctx context.Context, g HookGuest) error {
			d, err := g.ClientHello(ctx, hello)
			if err == nil && d != (wasmhost.HelloDecision{}) {
				return fmt.Errorf("decision %+v, want none", d)
			}
			return err
		}},
		{"tlsgate_on_certificate", func(ctx context.Context, g HookGuest) error {
			d, err := g.Certificate(ctx, wasmhost.CertificateInput{Hello: hello, Certificates: certs})
			if err == nil && d != (wasmhost.CertificateDecision{}) {
				return fmt.Errorf("decision %+v, want none", d)
			}
			return err
		}},
		{"tlsgate_on_upstream_session_fetch", func(ctx context.Context, g HookGuest) error {
			got, err := g.UpstreamFetch(ctx, "origin.test:443")
			if errors.Is(err, wasmhost.ErrMiss) && got == nil {
				return nil
			}
			if err == nil {
				return fmt.Errorf("a session of %d bytes, want a miss", len(got))
			}
			return err
		}},
		{"tlsgate_on_upstream_session_store", func(ctx context.Context, g HookGuest) error {
			return g.UpstreamStore(ctx, "origin.test:443", []byte("sealed"), time.Hour)
		}},
	}
	for _, mode := range []struct {
		config string
		fault  wasmhost.FaultKind // "": the plain outcome
	}{{"T", wasmhost.FaultTrap}, {"L", wasmhost.FaultTimeout}, {"S", wasmhost.FaultStatus}, {"W", wasmhost.FaultMisuse}, {"", ""}} {
		loaded, err := k.tryLoad(GuestSpec{Name: "hook_faults", Tenant: uniqueTenant("hooks"), Wasm: guest("hook_faults"), Config: []byte(mode.config)})
		if err != nil {
			t.Fatalf("Load refused hook_faults: %v", err)
		}
		g, ok := loaded.(HookGuest)
		if !ok {
			t.Fatalf("the host's loaded guest (%T) does not implement the ABI 1.1 hooks (wasmhosttest.HookGuest)", loaded)
		}
		for _, h := range hooks {
			for i := range 2 { // the second call: the same loaded guest still serves
				timeout := k.timeout
				if mode.fault == wasmhost.FaultTimeout {
					timeout = loopDeadline
				}
				ctx, cancel := context.WithTimeout(context.Background(), timeout)
				err := h.call(ctx, g)
				cancel()
				var ge *wasmhost.GuestError
				switch {
				case mode.fault == "" && err != nil:
					t.Errorf("mode %q: %s call %d: %v, want its plain outcome", mode.config, h.name, i, err)
				case mode.fault != "" && !(errors.As(err, &ge) && ge.Kind == mode.fault):
					t.Errorf("mode %q: %s call %d: %v, want a *wasmhost.GuestError of kind %s", mode.config, h.name, i, err, mode.fault)
				}
			}
		}
	}
}

// testInputDomain checks what the host guarantees a guest about its inputs
// (docs/abi.md section 6): a session identifier is 1 to 32 bytes, else the
// call is refused with wasmhost.ErrInvalidInput and no guest runs; a store's
// TTL input is its lifetime in milliseconds rounded up, never 0, and a store
// with no lifetime left is refused.
func testInputDomain(t *testing.T, k *kit) {
	g := k.load(t, GuestSpec{Name: "ttl_echo", Tenant: uniqueTenant("domain"), Wasm: guest("ttl_echo")})
	id := bytes.Repeat([]byte{7}, 32)
	for _, tt := range []struct {
		ttl  time.Duration
		want uint64
	}{{500 * time.Microsecond, 1}, {1500 * time.Microsecond, 2}, {90 * time.Second, 90000}} {
		if err := k.store(g, storeInput(id, []byte("s"), tt.ttl)); err != nil {
			t.Fatalf("store with TTL %v: %v", tt.ttl, err)
		}
		got, err := k.fetch(g, fetchInput(id))
		if err != nil || len(got) != 8 || binary.LittleEndian.Uint64(got) != tt.want {
			t.Errorf("store with TTL %v: the guest read TTL %x (%v), want %d", tt.ttl, got, err, tt.want)
		}
	}
	for _, bad := range []struct {
		name string
		id   []byte
		ttl  time.Duration
	}{
		{"empty identifier", nil, time.Hour},
		{"33-byte identifier", bytes.Repeat([]byte{1}, 33), time.Hour},
		{"no lifetime left", id, 0},
		{"negative lifetime", id, -time.Second},
	} {
		if err := k.store(g, storeInput(bad.id, []byte("s"), bad.ttl)); !errors.Is(err, wasmhost.ErrInvalidInput) {
			t.Errorf("store with %s: %v, want wasmhost.ErrInvalidInput", bad.name, err)
		}
		if bad.ttl > 0 {
			if _, err := k.fetch(g, fetchInput(bad.id)); !errors.Is(err, wasmhost.ErrInvalidInput) {
				t.Errorf("fetch with %s: %v, want wasmhost.ErrInvalidInput", bad.name, err)
			}
		}
	}
	// The largest lifetime fits kv_put's i64 as the ABI says (rounding up
	// must not wrap).
	if err := k.store(g, storeInput(id, []byte("s"), time.Duration(math.MaxInt64))); err != nil {
		t.Fatalf("store with the largest TTL: %v", err)
	}
	if got, err := k.fetch(g, fetchInput(id)); err != nil || binary.LittleEndian.Uint64(got) != uint64(math.MaxInt64/int64(time.Millisecond))+1 {
		t.Errorf("store with the largest TTL: the guest read %x (%v), want %d", got, err, uint64(math.MaxInt64/int64(time.Millisecond))+1)
	}
	if err := k.store(g, storeInput(id, []byte("s"), 90*time.Second)); err != nil {
		t.Fatal(err)
	}
	// An upstream store with no lifetime left is refused too (hook_faults
	// in its plain mode exports the upstream hooks and would store it).
	if up, ok := k.load(t, GuestSpec{Name: "hook_faults", Tenant: uniqueTenant("domain"), Wasm: guest("hook_faults")}).(HookGuest); ok {
		if err := up.UpstreamStore(context.Background(), "origin.test:443", []byte("s"), 0); !errors.Is(err, wasmhost.ErrInvalidInput) {
			t.Errorf("upstream store with no lifetime left: %v, want wasmhost.ErrInvalidInput", err)
		}
	} else {
		t.Error("the host's loaded guest does not implement wasmhosttest.HookGuest")
	}
	// The refused store of a valid identifier reached no guest: the last TTL stands.
	if got, err := k.fetch(g, fetchInput(id)); err != nil || binary.LittleEndian.Uint64(got) != 90000 {
		t.Errorf("after refused stores the guest's TTL is %x (%v), want 90000: a refused store reached the guest", got, err)
	}
}
