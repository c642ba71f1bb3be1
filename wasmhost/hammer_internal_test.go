package wasmhost

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

const tenantGuest = `(module
  (import "tlsgate" "input" (func $input (param i32 i32 i32) (result i32)))
  (import "tlsgate" "set_session" (func $set_session (param i32 i32) (result i32)))
  (memory (export "memory") 1 4)
  (global $calls (mut i32) (i32.const 0))
  (func (export "tlsgate_abi_v1"))
  %s
  (func (export "tlsgate_on_session_fetch") (result i32)
    (local $n i32)
    (global.set $calls (i32.add (global.get $calls) (i32.const 1)))
    ;; grow now and then, to exercise grew/budget
    (if (i32.eqz (i32.rem_u (global.get $calls) (i32.const 7)))
      (then (drop (memory.grow (i32.const 1)))))
    (local.set $n (call $input (i32.const 4) (i32.const 0) (i32.const 256)))
    (call $set_session (i32.const 0) (local.get $n)))
  (func (export "tlsgate_on_session_store") (result i32) (i32.const 0)))`

func hammerModule(t *testing.T, rt *Runtime, name string, shared bool) *Module {
	exp := ""
	if shared {
		exp = `(func (export "tlsgate_shared_instances"))`
	}
	src := filepath.Join(t.TempDir(), name+".wat")
	os.WriteFile(src, []byte(fmt.Sprintf(tenantGuest, exp)), 0o600)
	m, err := rt.Compile(context.Background(), name, wat2wasm(t, src))
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// Pools of several tenants sharing instances, and pools that do not, under
// budgets small enough that most calls evict, with pools closed and made
// again meanwhile (and the share itself closed halfway): no call is ever
// served as another tenant, and once everything is closed nothing is left
// accounted. Run it with -race.
func TestHammerShare(t *testing.T) {
	for _, opt := range []struct {
		name string
		o    []RuntimeOption
	}{
		{"mem", []RuntimeOption{WithMemoryBudget(6 * 65536)}},
		{"inst", []RuntimeOption{WithInstanceBudget(3)}},
		{"both", []RuntimeOption{WithInstanceBudget(4), WithMemoryBudget(8 * 65536)}},
	} {
		t.Run(opt.name, func(t *testing.T) { hammer(t, false, opt.o...) })
		t.Run(opt.name+"-share-closed-early", func(t *testing.T) { hammer(t, true, opt.o...) })
	}
}

func hammer(t *testing.T, closeShareEarly bool, opts ...RuntimeOption) {
	ctx := context.Background()
	rt, err := NewRuntime(ctx, opts...)
	if err != nil {
		t.Fatal(err)
	}
	defer rt.Close(ctx)
	ms := hammerModule(t, rt, "shared", true)
	mp := hammerModule(t, rt, "plain", false)
	share, _ := NewShare(ms, nil)
	pshare, _ := NewShare(mp, nil)

	var mu sync.Mutex
	pools := map[string]*Pool{}
	newP := func(name string, m *Module, s *Share) *Pool {
		p, err := NewPool(ctx, m, WithTenant(name), WithMinIdle(0), WithMaxInstances(2),
			WithShare(s), WithIdleTimeout(time.Duration(5+rand.IntN(40))*time.Millisecond), WithCallTimeout(time.Second))
		if err != nil {
			t.Fatal(err)
		}
		return p
	}
	for i := range 8 {
		name := fmt.Sprintf("s%d", i)
		pools[name] = newP(name, ms, share)
	}
	for i := range 3 {
		name := fmt.Sprintf("p%d", i)
		pools[name] = newP(name, mp, pshare)
	}
	var wrong, ok, budget, closed atomic.Int64
	var wg sync.WaitGroup
	deadline := time.Now().Add(time.Second)
	for w := range 24 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for time.Now().Before(deadline) {
				name := fmt.Sprintf("s%d", rand.IntN(8))
				if w%4 == 0 {
					name = fmt.Sprintf("p%d", rand.IntN(3))
				}
				mu.Lock()
				p := pools[name]
				mu.Unlock()
				got, err := p.Fetch(ctx, FetchInput{SessionID: make([]byte, 32)})
				switch {
				case err == nil && string(got) != name:
					wrong.Add(1)
					t.Errorf("pool %s got tenant %q", name, got)
				case err == nil:
					ok.Add(1)
				case err != nil && isBudget(err):
					budget.Add(1)
				case err != nil && isClosed(err):
					closed.Add(1)
				case err != nil:
					// memory faults etc.
				}
			}
		}()
	}
	// churn: close and recreate pools
	wg.Add(1)
	go func() {
		defer wg.Done()
		for time.Now().Before(deadline) {
			i := rand.IntN(8)
			name := fmt.Sprintf("s%d", i)
			np := newP(name, ms, share)
			mu.Lock()
			old := pools[name]
			pools[name] = np
			mu.Unlock()
			cctx, cancel := context.WithTimeout(ctx, time.Duration(rand.IntN(3))*time.Millisecond)
			old.Close(cctx)
			cancel()
			time.Sleep(2 * time.Millisecond)
		}
	}()
	if closeShareEarly {
		time.Sleep(500 * time.Millisecond)
		share.Close(ctx)
	}
	wg.Wait()
	for _, p := range pools {
		if err := p.Close(ctx); err != nil {
			t.Error(err)
		}
	}
	share.Close(ctx)
	pshare.Close(ctx)
	// Closed instances are freed in the background: poll until they are,
	// bounded generously (a loaded machine is slow to get there).
	lru := func() int {
		rt.idle.mu.Lock()
		defer rt.idle.mu.Unlock()
		return rt.idle.n
	}
	for limit := time.Now().Add(30 * time.Second); time.Now().Before(limit); time.Sleep(10 * time.Millisecond) {
		if rt.GuestMemory() == 0 && rt.mem.instances.Load() == 0 && lru() == 0 {
			break
		}
	}
	t.Logf("ok=%d budget=%d closed=%d wrong=%d", ok.Load(), budget.Load(), closed.Load(), wrong.Load())
	if ok.Load() == 0 {
		t.Error("no call succeeded")
	}
	if g, n := rt.GuestMemory(), lru(); g != 0 || rt.mem.instances.Load() != 0 || n != 0 {
		t.Errorf("after close: GuestMemory=%d instances=%d lru=%d", g, rt.mem.instances.Load(), n)
	}
}

func isBudget(err error) bool { return errors.Is(err, ErrMemoryBudget) }
func isClosed(err error) bool { return errors.Is(err, ErrPoolClosed) }
