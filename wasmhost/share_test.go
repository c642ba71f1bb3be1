package wasmhost_test

import (
	"bytes"
	"context"
	"errors"
	"testing"
	"time"

	"github.com/tlsgate/tlsgate/guests/prebuilt"
	"github.com/tlsgate/tlsgate/wasmhost"
)

// Tenants of a guest that exports tlsgate_shared_instances share its
// instances: one instance serves both tenants' calls, each call in the
// calling tenant's namespace. A guest without the export is never shared.
func TestShareServesSeveralTenantsOneCallAtATime(t *testing.T) {
	ctx := context.Background()
	rt := newRuntime(t)
	m := compileBytes(t, rt, "sessioncache.wasm", prebuilt.SessionCache)
	if !m.SharedInstances() {
		t.Fatal("the reference guest does not declare shared instances")
	}
	share, err := wasmhost.NewShare(m, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer share.Close(ctx)
	pools := map[string]*wasmhost.Pool{}
	for _, name := range []string{"a", "b"} {
		p, err := wasmhost.NewPool(ctx, m, wasmhost.WithTenant(name), wasmhost.WithKV(newBucket(t)),
			wasmhost.WithMinIdle(0), wasmhost.WithShare(share), wasmhost.WithCallTimeout(30*time.Second))
		if err != nil {
			t.Fatal(err)
		}
		defer p.Close(ctx)
		pools[name] = p
	}
	id := bytes.Repeat([]byte{7}, 32)
	if err := pools["a"].Store(ctx, wasmhost.StoreInput{SessionID: id, Session: []byte("a's sealed session"), TTL: time.Hour}); err != nil {
		t.Fatal(err)
	}
	if _, err := pools["b"].Fetch(ctx, wasmhost.FetchInput{SessionID: id}); !errors.Is(err, wasmhost.ErrMiss) {
		t.Fatalf("b fetches a's identifier on a shared instance: %v, want a miss (b's namespace)", err)
	}
	if got, err := pools["a"].Fetch(ctx, wasmhost.FetchInput{SessionID: id}); err != nil || string(got) != "a's sealed session" {
		t.Fatalf("a's fetch: %q, %v", got, err)
	}
	created := pools["a"].Stats().Created + pools["b"].Stats().Created
	if created != 1 || share.Idle() != 1 {
		t.Errorf("%d instances created, %d idle in the share; want one instance serving both tenants", created, share.Idle())
	}

	// A module without the export: each tenant has its own instances.
	plain := compileBytes(t, rt, "miss.wasm", compileWAT(t, `(module
  (memory (export "memory") 1)
  (func (export "tlsgate_abi_v1"))
  (func (export "tlsgate_on_session_fetch") (result i32) (i32.const 1)))`))
	pshare, err := wasmhost.NewShare(plain, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer pshare.Close(ctx)
	var total uint64
	for _, name := range []string{"a", "b"} {
		p, err := wasmhost.NewPool(ctx, plain, wasmhost.WithTenant(name), wasmhost.WithMinIdle(0), wasmhost.WithShare(pshare),
			wasmhost.WithCallTimeout(testTimeout))
		if err != nil {
			t.Fatal(err)
		}
		defer p.Close(ctx)
		if _, err := p.Fetch(ctx, wasmhost.FetchInput{SessionID: id}); !errors.Is(err, wasmhost.ErrMiss) {
			t.Fatal(err)
		}
		total += p.Stats().Created
	}
	if total != 2 || pshare.Idle() != 0 {
		t.Errorf("a guest that does not declare shared instances: %d created, %d idle in the share; want 2 and 0", total, pshare.Idle())
	}
}
