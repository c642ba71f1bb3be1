package prebuilt_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"strconv"
	"testing"
	"time"

	"github.com/tlsgate/tlsgate/abi"
	"github.com/tlsgate/tlsgate/guests/prebuilt"
	"github.com/tlsgate/tlsgate/wasmhost"
)

// TestGoAndAssemblyScriptShareSessions runs the Go reference guests and
// their AssemblyScript ports on one tenant's namespace with the same config:
// a session stored by either is fetched by the other, byte for byte, so a
// fleet can move from one to the other with no session lost.
func TestGoAndAssemblyScriptShareSessions(t *testing.T) {
	for _, fam := range []struct {
		name   string
		impls  []impl
		config string
	}{
		{name: "sessioncache", impls: sessionCaches, config: "prefix=sess/"},
		{name: "policycache", impls: policyCaches, config: "max_ttl=1h; prefix=pc/"},
	} {
		t.Run(fam.name, func(t *testing.T) {
			e := newEnv(t)
			const tenant = "shared"
			pools := make([]*wasmhost.Pool, len(fam.impls))
			for i, g := range fam.impls {
				p, err := e.guestPool(t, fam.name+"-"+g.name+".wasm", g.wasm, tenant, fam.config)
				if err != nil {
					t.Fatalf("%s: %v", g.name, err)
				}
				pools[i] = p
			}
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			for from := range pools {
				for to := range pools {
					if from == to {
						continue
					}
					name := fam.impls[from].name + " to " + fam.impls[to].name
					id := []byte("interop-" + strconv.Itoa(from) + "-" + strconv.Itoa(to))
					sess := []byte("sealed by " + fam.impls[from].name)
					if err := pools[from].Store(ctx, wasmhost.StoreInput{SessionID: id, Session: sess, TTL: time.Hour,
						Created: time.Now(), TLSVersion: 0x0304, Mechanism: abi.MechanismTLS13PSK}); err != nil {
						t.Fatalf("%s: store: %v", name, err)
					}
					got, err := pools[to].Fetch(ctx, wasmhost.FetchInput{SessionID: id, TLSVersion: 0x0304, Mechanism: abi.MechanismTLS13PSK})
					if err != nil || string(got) != string(sess) {
						t.Errorf("%s: fetch = %q, %v; want %q", name, got, err, sess)
					}
					if fam.name != "sessioncache" {
						continue
					}
					up := "origin-" + strconv.Itoa(from) + ".test:443"
					if err := pools[from].UpstreamStore(ctx, up, sess, time.Hour); err != nil {
						t.Fatalf("%s: upstream store: %v", name, err)
					}
					if got, err := pools[to].UpstreamFetch(ctx, up); err != nil || string(got) != string(sess) {
						t.Errorf("%s: upstream fetch = %q, %v; want %q", name, got, err, sess)
					}
				}
			}
			if fam.name == "policycache" {
				// First writer wins whichever implementation writes second.
				id := []byte("first-writer")
				for i, p := range pools {
					if err := p.Store(ctx, wasmhost.StoreInput{SessionID: id, Session: []byte("session " + strconv.Itoa(i)),
						TTL: time.Hour, Created: time.Now(), TLSVersion: 0x0304, Mechanism: abi.MechanismTLS13PSK}); err != nil {
						t.Fatalf("store %d: %v", i, err)
					}
				}
				for i, p := range pools {
					got, err := p.Fetch(ctx, wasmhost.FetchInput{SessionID: id, TLSVersion: 0x0304, Mechanism: abi.MechanismTLS13PSK})
					if err != nil || string(got) != "session 0" {
						t.Errorf("%s fetch = %q, %v; want the first writer's %q", fam.impls[i].name, got, err, "session 0")
					}
				}
			}
		})
	}
}

// TestAssemblyScriptGuestsDoNotGrow: the AssemblyScript guests run on the
// stub runtime, which never frees, so they must allocate nothing per call.
// One instance serves 5,000 rounds of a store, a fetch and a miss (debug
// logging on, so policycache builds its decision lines); its memory after
// the first 100 rounds and after all of them is the same, and it was never
// replaced. (A 16-byte leak per fetch shows after about 4,000 rounds.)
func TestAssemblyScriptGuestsDoNotGrow(t *testing.T) {
	for _, g := range []impl{{"sessioncache", prebuilt.SessionCacheAS}, {"policycache", prebuilt.PolicyCacheAS}} {
		t.Run(g.name, func(t *testing.T) {
			e := newEnv(t)
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
			defer cancel()
			m, err := e.rt.Compile(ctx, g.name+"-as.wasm", g.wasm)
			if err != nil {
				t.Fatal(err)
			}
			debug := slog.New(slog.NewTextHandler(io.Discard, &slog.HandlerOptions{Level: slog.LevelDebug}))
			p, err := wasmhost.NewPool(ctx, m, wasmhost.WithTenant("grow"), wasmhost.WithKV(e.bucket(t, "grow")),
				wasmhost.WithMaxInstances(1), wasmhost.WithPoolLogger(debug), wasmhost.WithCallTimeout(30*time.Second))
			if err != nil {
				t.Fatal(err)
			}
			defer p.Close(context.Background())
			sess := make([]byte, 300)
			var after100 uint64
			for i := range 5000 {
				id := []byte(fmt.Sprintf("%032d", i))
				if err := p.Store(ctx, wasmhost.StoreInput{SessionID: id, Session: sess, TTL: time.Hour, Created: time.Now(),
					TLSVersion: 0x0304, Mechanism: abi.MechanismTLS13PSK}); err != nil {
					t.Fatalf("store %d: %v", i, err)
				}
				if _, err := p.Fetch(ctx, wasmhost.FetchInput{SessionID: id, TLSVersion: 0x0304, Mechanism: abi.MechanismTLS13PSK}); err != nil {
					t.Fatalf("fetch %d: %v", i, err)
				}
				if _, err := p.Fetch(ctx, wasmhost.FetchInput{SessionID: []byte(fmt.Sprintf("missing-%024d", i)), TLSVersion: 0x0304,
					Mechanism: abi.MechanismTLS13PSK}); err != wasmhost.ErrMiss {
					t.Fatalf("fetch of a missing session %d: %v, want ErrMiss", i, err)
				}
				if i == 99 {
					after100 = e.rt.GuestMemory()
				}
			}
			if got := e.rt.GuestMemory(); got != after100 {
				t.Errorf("guest memory grew from %d to %d bytes over 4,900 rounds: the guest allocates per call", after100, got)
			}
			if st := p.Stats(); st.Created != 1 {
				t.Errorf("%d instances created, want 1 (discarded: %v)", st.Created, st.Discarded)
			}
		})
	}
}
