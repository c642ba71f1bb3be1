package wasmhost

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"
)

// BenchmarkPoolCheckout is acquire + release of an idle instance, without
// a guest call.
func BenchmarkPoolCheckout(b *testing.B) {
	wasm := wat2wasm(b, filepath.Join("testdata", "host", "trivial.wat"))
	ctx := context.Background()
	_, m := compiled(b, "trivial.wasm", wasm)
	p, err := NewPool(ctx, m)
	if err != nil {
		b.Fatal(err)
	}
	defer p.Close(ctx)
	b.ReportAllocs()
	for b.Loop() {
		inst, err := p.acquire(ctx)
		if err != nil {
			b.Fatal(err)
		}
		p.release(inst, "")
	}
}

// A caller whose deadline passes while a new instance is being built (a
// handshake's 50 ms fetch deadline against a cold start) gets an error, and
// the instance is still built, under its own init timeout, and joins the
// pool for the next caller: nothing is thrown away half-built.
func TestInstanceOutlivesTheCallerThatAskedForIt(t *testing.T) {
	wasm := wat2wasm(t, filepath.Join("testdata", "host", "trivial.wat"))
	ctx := context.Background()
	_, m := compiled(t, "trivial.wasm", wasm)
	p, err := NewPool(ctx, m, WithMaxInstances(4))
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close(ctx)

	gone, cancel := context.WithCancel(ctx)
	cancel() // the caller's deadline has passed before the instance is up
	p.mu.Lock()
	p.live++
	p.inUse++
	p.mu.Unlock()
	if inst, err := p.createFor(gone); err == nil {
		p.release(inst, "") // built faster than the select noticed: fine too
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		st := p.Stats()
		if st.Discarded[string(FaultInit)] != 0 {
			t.Fatalf("the instance was thrown away half-built: %+v", st)
		}
		if st.Live == 2 && st.Idle == 2 && st.InUse == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("the instance did not join the pool: %+v", st)
		}
		time.Sleep(time.Millisecond)
	}
}

// An instance whose memory has grown to the runtime's cap is retired when
// it comes back, not kept for the next call.
func TestInstanceAtItsMemoryCapIsRetired(t *testing.T) {
	ctx := context.Background()
	// One page now, which the guest grows to the cap of two.
	b := growGuest(t)
	_, m := compiled(t, "grow.wasm", b, WithMemoryLimitPages(2))
	p, err := NewPool(ctx, m, WithMaxInstances(1), WithCallTimeout(30*time.Second)) // generous: a trivial call misses 100 ms on a busy machine
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close(ctx)
	if _, err := p.Fetch(ctx, FetchInput{SessionID: make([]byte, 32)}); !errors.Is(err, ErrMiss) {
		t.Fatalf("fetch: %v, want a miss", err)
	}
	if st := p.Stats(); st.Discarded[string(FaultMemory)] != 1 || st.Idle != 0 {
		t.Fatalf("after a call that grew memory to the cap: %+v, want the instance retired", st)
	}
}

// growGuest is a module of one page whose fetch grows memory by a page and
// misses.
func growGuest(t *testing.T) []byte {
	t.Helper()
	src := filepath.Join(t.TempDir(), "grow.wat")
	os.WriteFile(src, []byte(`(module
  (memory (export "memory") 1)
  (func (export "tlsgate_abi_v1"))
  (func (export "tlsgate_on_session_fetch") (result i32)
    (drop (memory.grow (i32.const 1)))
    (i32.const 1)))`), 0o600)
	return wat2wasm(t, src)
}

// wat2wasm compiles a .wat file with wabt's wat2wasm and returns the module.
func wat2wasm(tb testing.TB, src string) []byte {
	tb.Helper()
	tool, err := exec.LookPath("wat2wasm")
	if err != nil {
		tb.Fatalf("wat2wasm not found (install wabt): %v", err)
	}
	out := filepath.Join(tb.TempDir(), "out.wasm")
	if msg, err := exec.Command(tool, src, "-o", out).CombinedOutput(); err != nil {
		tb.Fatalf("wat2wasm: %v\n%s", err, msg)
	}
	b, err := os.ReadFile(out)
	if err != nil {
		tb.Fatal(err)
	}
	return b
}

// The runtime's memory budget holds across instances: an instance that
// grows the total past it is retired when its call ends, and none starts
// past it.
func TestRuntimeMemoryBudget(t *testing.T) {
	ctx := context.Background()
	const page = 64 << 10
	rt, m := compiled(t, "grow.wasm", growGuest(t), WithMemoryLimitPages(8), WithMemoryBudget(2*page))
	p, err := NewPool(ctx, m, WithMaxInstances(2), WithCallTimeout(30*time.Second)) // generous: a trivial call misses 100 ms on a busy machine
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close(ctx)
	steps := []struct {
		name     string
		wantUsed uint64
		retired  uint64
	}{
		{name: "grows to 2 pages, the budget", wantUsed: 2 * page},
		{name: "grows to 3 pages, past it: retired", wantUsed: 0, retired: 1},
		{name: "a new instance of 1 page grows to 2", wantUsed: 2 * page, retired: 1},
	}
	for _, st := range steps {
		if _, err := p.Fetch(ctx, FetchInput{SessionID: make([]byte, 32)}); !errors.Is(err, ErrMiss) {
			t.Fatalf("%s: fetch %v", st.name, err)
		}
		if got := rt.GuestMemory(); got != st.wantUsed {
			t.Fatalf("%s: guest memory %d, want %d", st.name, got, st.wantUsed)
		}
		if got := p.Stats().Discarded["budget"]; got != st.retired {
			t.Fatalf("%s: retired for the budget %d, want %d", st.name, got, st.retired)
		}
	}
	// The idle instance holds the whole budget: a second one may not start.
	held, err := p.acquire(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := p.acquire(ctx); !errors.Is(err, ErrMemoryBudget) {
		t.Fatalf("a second instance past the budget: %v, want ErrMemoryBudget", err)
	}
	p.release(held, "")
	p.Close(ctx)
	if got := rt.GuestMemory(); got != 0 {
		t.Fatalf("after Close the runtime still accounts %d bytes", got)
	}
}

// A guest that burns CPU on every call without faulting (here 2M loop
// iterations, then a miss) is refused once its pool's CPU budget is spent,
// and served again once the budget refills.
func TestCPUBudget(t *testing.T) {
	ctx := context.Background()
	src := filepath.Join(t.TempDir(), "burn.wat")
	os.WriteFile(src, []byte(`(module
  (memory (export "memory") 1)
  (func (export "tlsgate_abi_v1"))
  (func (export "tlsgate_on_session_fetch") (result i32)
    (local $i i32)
    (loop $l
      (local.set $i (i32.add (local.get $i) (i32.const 1)))
      (br_if $l (i32.lt_u (local.get $i) (i32.const 2000000))))
    (i32.const 1)))`), 0o600)
	_, m := compiled(t, "burn.wasm", wat2wasm(t, src))
	p, err := NewPool(ctx, m, WithMaxInstances(1), WithCallTimeout(10*time.Second), WithCPUBudget(30*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close(ctx)
	in := FetchInput{SessionID: make([]byte, 32)}
	calls := 0
	var err2 error
	for ; calls < 1000; calls++ {
		if _, err2 = p.Fetch(ctx, in); !errors.Is(err2, ErrMiss) {
			break
		}
	}
	if !errors.Is(err2, ErrCPUBudget) {
		t.Fatalf("after %d calls: %v, want ErrCPUBudget", calls, err2)
	}
	t.Logf("refused after %d calls with a budget of 30ms per second", calls)
	// The budget refills at 30ms per second: a little after, it holds more
	// (how long until it is positive again depends on this machine's speed).
	before := p.cpu.Tokens()
	time.Sleep(50 * time.Millisecond)
	if after := p.cpu.Tokens(); after <= before {
		t.Fatalf("the CPU budget does not refill: %v then %v", before, after)
	}
}

// A lazy pool (WithMinIdle(0)) holds no instance until its first call, and
// none again once idle past its idle timeout; the runtime's one reaper
// serves every pool.
func TestLazyPool(t *testing.T) {
	ctx := context.Background()
	rt, m := compiled(t, "grow.wasm", growGuest(t))
	var pools []*Pool
	for range 3 {
		p, err := NewPool(ctx, m, WithMinIdle(0), WithIdleTimeout(30*time.Millisecond), WithCallTimeout(30*time.Second)) // generous: a trivial call misses 100 ms on a busy machine
		if err != nil {
			t.Fatal(err)
		}
		defer p.Close(ctx)
		pools = append(pools, p)
	}
	for _, p := range pools {
		if st := p.Stats(); st.Live != 0 || st.Created != 0 {
			t.Fatalf("a lazy pool never called holds instances: %+v", st)
		}
	}
	if _, err := pools[0].Fetch(ctx, FetchInput{SessionID: make([]byte, 32)}); !errors.Is(err, ErrMiss) {
		t.Fatal(err)
	}
	if st := pools[0].Stats(); st.Live != 1 || st.Idle != 1 {
		t.Fatalf("after one call: %+v, want one idle instance", st)
	}
	deadline := time.Now().Add(30 * time.Second)
	for pools[0].Stats().Live != 0 {
		if time.Now().After(deadline) {
			t.Fatalf("the idle instance was not reaped: %+v", pools[0].Stats())
		}
		time.Sleep(5 * time.Millisecond)
	}
	if got := len(rt.reaper.pools); got != 3 {
		t.Errorf("the runtime's reaper serves %d pools, want 3", got)
	}
}

// compiled compiles wasm as name in a new runtime with opts, closed when
// the test ends.
func compiled(tb testing.TB, name string, wasm []byte, opts ...RuntimeOption) (*Runtime, *Module) {
	tb.Helper()
	ctx := context.Background()
	rt, err := NewRuntime(ctx, opts...)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { rt.Close(ctx) })
	m, err := rt.Compile(ctx, name, wasm)
	if err != nil {
		tb.Fatal(err)
	}
	return rt, m
}

// Tenants share the runtime's memory budget: when it is used up, a new
// instance of one pool takes the place of the instance idle longest in
// any pool, instead of failing while others sit idle.
func TestBudgetEvictsTheInstanceIdleLongest(t *testing.T) {
	const page = 64 << 10
	for name, budget := range map[string]RuntimeOption{"memory": WithMemoryBudget(2 * page), "instances": WithInstanceBudget(2)} {
		t.Run(name, func(t *testing.T) { testBudgetEvicts(t, budget) })
	}
}

func testBudgetEvicts(t *testing.T, budget RuntimeOption) {
	ctx := context.Background()
	src := filepath.Join(t.TempDir(), "miss.wat")
	os.WriteFile(src, []byte(`(module
  (memory (export "memory") 1)
  (func (export "tlsgate_abi_v1"))
  (func (export "tlsgate_on_session_fetch") (result i32) (i32.const 1)))`), 0o600)
	_, m := compiled(t, "miss.wasm", wat2wasm(t, src), budget)
	pools := make([]*Pool, 3)
	for i := range pools {
		p, err := NewPool(ctx, m, WithMinIdle(0), WithTenant(fmt.Sprintf("t%d", i)), WithCallTimeout(30*time.Second)) // generous: a trivial call misses 100 ms on a busy machine
		if err != nil {
			t.Fatal(err)
		}
		defer p.Close(ctx)
		pools[i] = p
	}
	in := FetchInput{SessionID: make([]byte, 32)}
	for round := range 2 {
		for i, p := range pools {
			if _, err := p.Fetch(ctx, in); !errors.Is(err, ErrMiss) {
				t.Fatalf("round %d, pool %d: %v, want a miss (room made by evicting an idle instance)", round, i, err)
			}
		}
	}
	// Budget of two instances, three pools visited twice in turn: every
	// call after the first two evicted the instance idle longest.
	var evicted uint64
	for _, p := range pools {
		evicted += p.Stats().Discarded["evicted"]
	}
	if evicted != 4 {
		t.Errorf("evicted %d instances, want 4", evicted)
	}
	if live := pools[0].Stats().Live + pools[1].Stats().Live + pools[2].Stats().Live; live != 2 {
		t.Errorf("%d instances live, want 2 (the budget)", live)
	}
}
