package wasmhosttest_test

import (
	"context"
	"io/fs"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/tlsgate/tlsgate/guests/guestbuild"
	"github.com/tlsgate/tlsgate/guests/prebuilt"
	"github.com/tlsgate/tlsgate/wasmhost"
	"github.com/tlsgate/tlsgate/wasmhost/wasmhosttest"
)

// newHost returns the kit's Host over package wasmhost, with a real
// in-process NATS JetStream KV and a compilation cache shared across runs.
// Guest memory is capped at 16 MiB: grow_memory grows to the cap, and on a
// loaded machine (or under -race) growing to wasmhost's default 64 MiB can
// take longer than a call timeout.
func newHost(t testing.TB, opts ...wasmhost.PoolOption) wasmhosttest.Host {
	t.Helper()
	ctx := context.Background()
	rt, err := wasmhost.NewRuntime(ctx,
		wasmhost.WithCompilationCacheDir(filepath.Join(os.TempDir(), "tlsgate-wasmhosttest-cache")),
		wasmhost.WithMemoryLimitPages(256))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := rt.Close(ctx); err != nil {
			t.Errorf("close runtime: %v", err)
		}
	})
	kv := newKVStore(t)
	return wasmhosttest.NewWasmhost(rt, kv.For, opts...)
}

func TestHostConformance(t *testing.T) {
	// loop_fetch runs under the kit's own short deadline; the long call
	// timeout keeps grow_memory from timing out on a loaded machine.
	wasmhosttest.TestHost(t, newHost(t, wasmhost.WithCallTimeout(30*time.Second)))
}

func TestGuestConformance(t *testing.T) {
	okCache, err := fs.ReadFile(wasmhosttest.Guests(), "ok_cache.wasm")
	if err != nil {
		t.Fatal(err)
	}
	// The AssemblyScript reference guest is built from its source here, with
	// the compiler its SDK pins, so the kit checks what the SDK makes today.
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute) // builds with a cold cache, on a busy machine
	defer cancel()
	asFile := filepath.Join(t.TempDir(), "sessioncache-as.wasm")
	if err := guestbuild.BuildAssemblyScript(ctx, "../../guests/sdk/assemblyscript", "../../guests/assemblyscript/sessioncache/index.ts", asFile); err != nil {
		t.Fatal(err)
	}
	asCache, err := os.ReadFile(asFile)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		wasm []byte
		opts []wasmhosttest.GuestOption
	}{
		{name: "ok_cache.wat", wasm: okCache, opts: []wasmhosttest.GuestOption{wasmhosttest.WithTTLCheck()}},
		{name: "guests/sessioncache", wasm: prebuilt.SessionCache, opts: []wasmhosttest.GuestOption{wasmhosttest.WithTTLCheck()}},
		{name: "guests/assemblyscript/sessioncache", wasm: asCache, opts: []wasmhosttest.GuestOption{wasmhosttest.WithTTLCheck()}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			wasmhosttest.TestGuest(t, newHost(t), tc.wasm, tc.opts...)
		})
	}
}
