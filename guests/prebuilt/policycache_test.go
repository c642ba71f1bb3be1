package prebuilt_test

import (
	"context"
	"encoding/base64"
	"errors"
	"strconv"
	"testing"
	"time"

	"github.com/tlsgate/tlsgate/abi"
	"github.com/tlsgate/tlsgate/wasmhost"
	"github.com/tlsgate/tlsgate/wasmhost/wasmhosttest"
)

// policyPool loads the embedded policycache guest for tenant with config.
func (e *env) policyPool(t *testing.T, g impl, tenant, config string) (*wasmhost.Pool, error) {
	t.Helper()
	return e.guestPool(t, "policycache-"+g.name+".wasm", g.wasm, tenant, config)
}

// TestPolicyCacheConformance runs the guest conformance kit on the embedded
// policycache guest with natskv buckets. Its policy caches TLS 1.2 too (the
// kit stores TLS 1.2 sessions) and caps TTLs at an hour, above the kit's.
// Deadlines are generous: the machine running the tests may be loaded.
func TestPolicyCacheConformance(t *testing.T) { each(t, policyCaches, testPolicyCacheConformance) }

func testPolicyCacheConformance(t *testing.T, g impl) {
	e := newEnv(t)
	h := wasmhosttest.NewWasmhost(e.rt, func(_ context.Context, tenant string) (wasmhost.KV, error) { return e.bucket(t, tenant), nil },
		wasmhost.WithPoolLogger(quiet), wasmhost.WithCallTimeout(30*time.Second))
	wasmhosttest.TestGuest(t, h, g.wasm, wasmhosttest.WithTTLCheck(),
		wasmhosttest.WithGuestConfig([]byte("max_ttl=1h;prefix=pc/")), wasmhosttest.WithCallTimeout(30*time.Second))
}

// TestPolicyCacheVersionPolicy checks tls13_only: TLS 1.2 sessions are
// refused with ACCESS_DENIED and never reach the store, TLS 1.2 fetches miss
// even when the key exists, and TLS 1.3 sessions are cached.
func TestPolicyCacheVersionPolicy(t *testing.T) { each(t, policyCaches, testPolicyCacheVersionPolicy) }

func testPolicyCacheVersionPolicy(t *testing.T, g impl) {
	e := newEnv(t)
	tests := []struct {
		name       string
		config     string
		version    uint16
		mechanism  abi.Mechanism
		wantStored bool
	}{
		{name: "tls13_only caches TLS 1.3", config: "tls13_only=true", version: 0x0304, mechanism: abi.MechanismTLS13PSK, wantStored: true},
		{name: "tls13_only refuses a TLS 1.2 ticket", config: "tls13_only=true", version: 0x0303, mechanism: abi.MechanismTLS12Ticket},
		{name: "tls13_only refuses a TLS 1.2 session ID", config: "tls13_only=true", version: 0x0303, mechanism: abi.MechanismTLS12ID},
		{name: "default caches a TLS 1.2 ticket", config: "", version: 0x0303, mechanism: abi.MechanismTLS12Ticket, wantStored: true},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tenant := "version-" + strconv.Itoa(i)
			p, err := e.policyPool(t, g, tenant, tt.config)
			if err != nil {
				t.Fatal(err)
			}
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			id := []byte("identifier-" + strconv.Itoa(i))
			err = p.Store(ctx, wasmhost.StoreInput{SessionID: id, Session: []byte("sealed"), TTL: time.Hour,
				Created: time.Now(), TLSVersion: tt.version, Mechanism: tt.mechanism})
			bucket := e.bucket(t, tenant)
			k := base64.RawURLEncoding.EncodeToString(append([]byte("p/"), id...))
			_, getErr := bucket.Get(ctx, k)
			if tt.wantStored {
				if err != nil || getErr != nil {
					t.Fatalf("Store = %v, bucket key %s: %v; want stored", err, k, getErr)
				}
			} else {
				var ge *wasmhost.GuestError
				if !errors.As(err, &ge) || ge.Kind != wasmhost.FaultStatus || ge.Status != abi.StatusAccessDenied {
					t.Fatalf("Store = %v, want a FaultStatus GuestError with ACCESS_DENIED", err)
				}
				if getErr == nil {
					t.Fatalf("bucket key %s exists after a refused store", k)
				}
				// Plant the key directly: a refused version misses anyway.
				if err := bucket.Put(ctx, k, []byte("planted"), time.Hour); err != nil {
					t.Fatal(err)
				}
			}
			got, err := p.Fetch(ctx, wasmhost.FetchInput{SessionID: id, TLSVersion: tt.version, Mechanism: tt.mechanism})
			switch {
			case tt.wantStored && (err != nil || string(got) != "sealed"):
				t.Fatalf("Fetch = %q, %v, want \"sealed\"", got, err)
			case !tt.wantStored && !errors.Is(err, wasmhost.ErrMiss):
				t.Fatalf("Fetch of a refused version = %q, %v, want ErrMiss", got, err)
			}
		})
	}
}

// TestPolicyCacheFirstWriterWins checks that a second store under the same
// identifier succeeds but keeps the first session (kv_create, not put).
func TestPolicyCacheFirstWriterWins(t *testing.T) {
	each(t, policyCaches, testPolicyCacheFirstWriterWins)
}

func testPolicyCacheFirstWriterWins(t *testing.T, g impl) {
	e := newEnv(t)
	p, err := e.policyPool(t, g, "firstwriter", "")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	id := []byte("same-identifier")
	for _, sess := range []string{"first", "second"} {
		if err := p.Store(ctx, wasmhost.StoreInput{SessionID: id, Session: []byte(sess), TTL: time.Hour,
			Created: time.Now(), TLSVersion: 0x0304, Mechanism: abi.MechanismTLS13PSK}); err != nil {
			t.Fatalf("Store(%s) = %v, want nil", sess, err)
		}
	}
	got, err := p.Fetch(ctx, wasmhost.FetchInput{SessionID: id, TLSVersion: 0x0304, Mechanism: abi.MechanismTLS13PSK})
	if err != nil || string(got) != "first" {
		t.Fatalf("Fetch = %q, %v, want \"first\"", got, err)
	}
}

// TestPolicyCacheMaxTTL checks that max_ttl caps the gateway's TTL: a
// session asked to live an hour under max_ttl=1s expires within seconds.
func TestPolicyCacheMaxTTL(t *testing.T) { each(t, policyCaches, testPolicyCacheMaxTTL) }

func testPolicyCacheMaxTTL(t *testing.T, g impl) {
	e := newEnv(t)
	p, err := e.policyPool(t, g, "maxttl", "max_ttl=1s")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	id := []byte("short-lived")
	in := wasmhost.FetchInput{SessionID: id, TLSVersion: 0x0304, Mechanism: abi.MechanismTLS13PSK}
	if err := p.Store(ctx, wasmhost.StoreInput{SessionID: id, Session: []byte("sealed"), TTL: time.Hour,
		Created: time.Now(), TLSVersion: 0x0304, Mechanism: abi.MechanismTLS13PSK}); err != nil {
		t.Fatal(err)
	}
	if _, err := p.Fetch(ctx, in); err != nil {
		t.Fatalf("Fetch right after Store: %v, want a hit", err)
	}
	deadline := time.Now().Add(30 * time.Second) // expiry runs on the KV's timer: late on a loaded machine
	for {
		_, err := p.Fetch(ctx, in)
		if errors.Is(err, wasmhost.ErrMiss) {
			return
		}
		if err != nil {
			t.Fatalf("Fetch while waiting for expiry: %v", err)
		}
		if time.Now().After(deadline) {
			t.Fatal("session stored with TTL 1h under max_ttl=1s still a hit after 30s")
		}
		time.Sleep(200 * time.Millisecond)
	}
}

func TestPolicyCacheRefusesBadConfig(t *testing.T) {
	each(t, policyCaches, testPolicyCacheRefusesBadConfig)
}

func testPolicyCacheRefusesBadConfig(t *testing.T, g impl) {
	e := newEnv(t)
	tests := []struct {
		name   string
		config string
	}{
		{name: "unknown key", config: "bucket=x"},
		{name: "bad duration", config: "max_ttl=forever"},
		{name: "bad bool", config: "tls13_only=yes"},
		{name: "not UTF-8", config: "max_ttl=1h\xff"},
		{name: "a negative zero", config: "max_ttl=-0s"},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := e.policyPool(t, g, "badconfig-"+strconv.Itoa(i), tt.config)
			var ge *wasmhost.GuestError
			if !errors.As(err, &ge) || ge.Kind != wasmhost.FaultInit {
				t.Fatalf("NewPool with config %q: error = %v, want a FaultInit GuestError", tt.config, err)
			}
		})
	}
}
