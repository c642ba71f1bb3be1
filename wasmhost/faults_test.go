package wasmhost_test

import (
	"context"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/tlsgate/tlsgate/abi"
	"github.com/tlsgate/tlsgate/wasmhost"
)

func scriptPool(tb testing.TB, rt *wasmhost.Runtime, build func(s *script), opts ...wasmhost.PoolOption) *wasmhost.Pool {
	tb.Helper()
	var s script
	build(&s)
	m := compileGuest(tb, rt, "script")
	return newPool(tb, m, append([]wasmhost.PoolOption{wasmhost.WithGuestConfig(s.config()), wasmhost.WithPoolLogger(quietLogger)}, opts...)...)
}

// TestGuestFaults checks that a trap, a runaway loop and memory exhaustion
// fail the call with the right kind, discard the instance, and that the
// pool keeps serving with a fresh one.
func TestGuestFaults(t *testing.T) {
	tests := []struct {
		name     string
		build    func(s *script)
		ctx      time.Duration // caller deadline; 0 for none
		wantKind wasmhost.FaultKind
		wantErr  error
	}{
		{name: "trap", build: func(s *script) { s.op(opTrap) }, wantKind: wasmhost.FaultTrap},
		{name: "infinite loop stopped by the call timeout", build: func(s *script) { s.op(opLoop) },
			wantKind: wasmhost.FaultTimeout, wantErr: context.DeadlineExceeded},
		{name: "infinite loop stopped by the caller's earlier deadline", build: func(s *script) { s.op(opLoop) },
			ctx: 10 * time.Millisecond, wantKind: wasmhost.FaultTimeout, wantErr: context.DeadlineExceeded},
		{name: "trap at the memory cap", build: func(s *script) { s.op(opGrowAll); s.op(opTrap) }, wantKind: wasmhost.FaultMemory},
	}
	rt := newRuntime(t, wasmhost.WithMemoryLimitPages(64))
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			// The call timeout is short only where it is what stops the
			// guest; a trap, or growing memory (which copies it), must not
			// time out first on a busy machine.
			timeout := testTimeout
			if tt.wantKind == wasmhost.FaultTimeout {
				timeout = 50 * time.Millisecond
			}
			p := scriptPool(t, rt, tt.build, wasmhost.WithMaxInstances(1), wasmhost.WithCallTimeout(timeout))
			for i := range 3 { // the pool replaces the discarded instance each time
				ctx := context.Background()
				if tt.ctx > 0 {
					var cancel context.CancelFunc
					ctx, cancel = context.WithTimeout(ctx, tt.ctx)
					defer cancel()
				}
				start := time.Now()
				_, err := p.Fetch(ctx, fetchInput(0))
				ge := guestErr(t, err, tt.wantKind)
				if tt.wantErr != nil && !errors.Is(err, tt.wantErr) {
					t.Fatalf("error %v does not match %v", err, tt.wantErr)
				}
				if ge.Export != abi.ExportOnSessionFetch || ge.Module != "script.wasm" || ge.Tenant != "default" {
					t.Fatalf("GuestError names %q %q %q", ge.Tenant, ge.Module, ge.Export)
				}
				if d := time.Since(start); d > 5*time.Second { // generous slack: a busy machine
					t.Fatalf("call %d took %v", i, d)
				}
			}
			st := p.Stats()
			if st.Discarded[string(tt.wantKind)] != 3 || st.Live > 1 {
				t.Fatalf("stats %+v, want 3 discarded as %q and at most 1 live", st, tt.wantKind)
			}
		})
	}
	t.Run("memory.grow fails at the cap", func(t *testing.T) {
		p := scriptPool(t, rt, func(s *script) { s.op(opGrowAll); s.op(opGrow, 1) }, wasmhost.WithCallTimeout(testTimeout))
		got, err := p.Fetch(context.Background(), fetchInput(0))
		if err != nil {
			t.Fatal(err)
		}
		if res := results(got); !slices.Equal(res, []int32{64, -1}) {
			t.Fatalf("results %v, want [64 -1]", res)
		}
	})
}

// TestRunawayOverrun measures how long a guest in an infinite loop keeps
// running past its deadline before CloseOnContextDone stops it.
func TestRunawayOverrun(t *testing.T) {
	const timeout = 20 * time.Millisecond
	rt := newRuntime(t)
	p := scriptPool(t, rt, func(s *script) { s.op(opLoop) }, wasmhost.WithMaxInstances(1), wasmhost.WithCallTimeout(timeout),
		wasmhost.WithFaultSuspension(0, 0, 0))
	var overruns []time.Duration
	for range 10 {
		start := time.Now()
		_, err := p.Fetch(context.Background(), fetchInput(0))
		overruns = append(overruns, time.Since(start)-timeout)
		guestErr(t, err, wasmhost.FaultTimeout)
	}
	slices.Sort(overruns)
	t.Logf("runaway guest overrun past a %v deadline (includes replacing the instance): min %v, median %v, max %v",
		timeout, overruns[0], overruns[len(overruns)/2], overruns[len(overruns)-1])
	if overruns[len(overruns)/2] > 100*time.Millisecond {
		t.Fatalf("median overrun %v, want well under 100ms", overruns[len(overruns)/2])
	}
}

// TestCallerCancelStopsGuest checks that a caller giving up (a client gone
// mid-handshake, say) stops its running call, as the deadline would, and
// that the pool goes on serving.
func TestCallerCancelStopsGuest(t *testing.T) {
	rt := newRuntime(t)
	p := scriptPool(t, rt, func(s *script) { s.op(opLoop) }, wasmhost.WithMaxInstances(1),
		wasmhost.WithCallTimeout(time.Hour), wasmhost.WithFaultSuspension(0, 0, 0))
	for i := range 3 {
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		go func() { _, err := p.Fetch(ctx, fetchInput(0)); done <- err }()
		// In use and created: the guest runs (or is about to: begin sees the
		// cancellation then), rather than its instance still starting,
		// which a cancellation ends with the caller's error instead.
		waitFor(t, "the call to start", func() bool {
			st := p.Stats()
			return st.InUse == 1 && st.Created >= uint64(i+1)
		})
		cancel()
		err := <-done
		guestErr(t, err, wasmhost.FaultTimeout)
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("call %d: %v, want it to wrap context.Canceled", i, err)
		}
	}
	if st := p.Stats(); st.Discarded[string(wasmhost.FaultTimeout)] != 3 {
		t.Fatalf("stats %+v, want 3 instances discarded as timeout", st)
	}
}

// TestInstanceInit checks _initialize and tlsgate_on_init.
func TestInstanceInit(t *testing.T) {
	tests := []struct {
		name       string
		config     []byte
		wantStatus abi.Status
		wantErr    error
	}{
		{name: "_initialize runs before on_init, which succeeds"},
		{name: "on_init failing refuses the pool", config: []byte{byte(abi.StatusUnavailable)}, wantStatus: abi.StatusUnavailable},
		{name: "on_init looping is stopped by the init timeout", config: []byte{0xFF}, wantErr: context.DeadlineExceeded},
	}
	rt := newRuntime(t)
	m := compileGuest(t, rt, "reactor")
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := wasmhost.NewPool(context.Background(), m, wasmhost.WithTenant("acme"),
				wasmhost.WithGuestConfig(tt.config), wasmhost.WithInitTimeout(50*time.Millisecond))
			if tt.wantStatus == 0 && tt.wantErr == nil {
				if err != nil {
					t.Fatalf("NewPool: %v", err)
				}
				defer p.Close(context.Background())
				got, err := p.Fetch(context.Background(), fetchInput(0))
				if err != nil || string(got) != "acme" {
					t.Fatalf("Fetch = %q, %v; want the tenant name", got, err)
				}
				return
			}
			ge := guestErr(t, err, wasmhost.FaultInit)
			if ge.Status != tt.wantStatus {
				t.Fatalf("status %v, want %v", ge.Status, tt.wantStatus)
			}
			if tt.wantErr != nil && !errors.Is(err, tt.wantErr) {
				t.Fatalf("error %v does not match %v", err, tt.wantErr)
			}
			if p != nil {
				t.Fatal("NewPool returned a pool with its error")
			}
		})
	}
}

// TestHandlesScopedToCall checks that handles left live when an export
// returns are released: pending operations are cancelled and the handle is
// unknown to the next call.
func TestHandlesScopedToCall(t *testing.T) {
	rt := newRuntime(t)
	kv := &slowKV{KV: newBucket(t)}
	var s script
	k := s.put([]byte("slow"))
	h := s.op(opKVGet, k, 4)
	s.op(opPoll, ref(h))
	// The script runs twice on one instance: the first call leaks its handle
	// (1); the second starts handle 2 and then polls handle 1.
	p := newPool(t, compileGuest(t, rt, "script"), wasmhost.WithGuestConfig(s.config()), wasmhost.WithKV(kv),
		wasmhost.WithMaxInstances(1), wasmhost.WithPoolLogger(quietLogger))
	got, err := p.Fetch(context.Background(), fetchInput(0))
	if err != nil {
		t.Fatal(err)
	}
	if res := results(got); !slices.Equal(res, []int32{1, pending}) {
		t.Fatalf("results %v", res)
	}
	waitFor(t, "the leaked get to be cancelled", func() bool { return kv.cancelled.Load() == 1 })

	var s2 script
	k2 := s2.put([]byte("slow"))
	s2.op(opKVGet, k2, 4)
	s2.op(opPoll, 1)
	p2 := newPool(t, compileGuest(t, rt, "script"), wasmhost.WithGuestConfig(s2.config()), wasmhost.WithKV(kv),
		wasmhost.WithMaxInstances(1), wasmhost.WithPoolLogger(quietLogger))
	if _, err := p2.Fetch(context.Background(), fetchInput(0)); err != nil {
		t.Fatal(err)
	}
	_, err = p2.Fetch(context.Background(), fetchInput(0)) // handle 1 belonged to the first call
	guestErr(t, err, wasmhost.FaultMisuse)
}

// A guest that faults on every call is suspended after the threshold: calls
// then fail at once with ErrSuspended, costing no instance and no CPU; after
// the back-off one probe call runs, and faulting again doubles the back-off.
func TestRepeatedFaultsSuspendTheGuest(t *testing.T) {
	rt := newRuntime(t)
	p := scriptPool(t, rt, func(s *script) { s.op(opLoop) }, wasmhost.WithMaxInstances(1),
		wasmhost.WithCallTimeout(20*time.Millisecond), wasmhost.WithFaultSuspension(3, 200*time.Millisecond, time.Second))
	for i := range 3 {
		_, err := p.Fetch(context.Background(), fetchInput(0))
		guestErr(t, err, wasmhost.FaultTimeout)
		if i < 2 && errors.Is(err, wasmhost.ErrSuspended) {
			t.Fatalf("call %d suspended before the threshold", i)
		}
	}
	created := p.Stats().Created
	suspendedAt := time.Now()
	for i := range 20 {
		_, err := p.Fetch(context.Background(), fetchInput(0))
		if time.Since(suspendedAt) > 150*time.Millisecond {
			break // a slow machine: the 200 ms back-off is nearly over
		}
		if !errors.Is(err, wasmhost.ErrSuspended) {
			t.Fatalf("call %d after 3 faults: %v, want ErrSuspended", i, err)
		}
	}
	if got := p.Stats().Created; got != created {
		t.Errorf("instances created while suspended: %d", got-created)
	}
	time.Sleep(250 * time.Millisecond)
	_, err := p.Fetch(context.Background(), fetchInput(0))
	guestErr(t, err, wasmhost.FaultTimeout) // the probe ran, and faulted
	if _, err := p.Fetch(context.Background(), fetchInput(0)); !errors.Is(err, wasmhost.ErrSuspended) {
		t.Fatalf("after a faulting probe: %v, want suspended again", err)
	}
}

// blockKV's Get waits until its context ends.
type blockKV struct{ wasmhost.KV }

func (blockKV) Get(ctx context.Context, _ string) ([]byte, error) {
	<-ctx.Done()
	return nil, ctx.Err()
}

// TestRuntimeCloseStopsRunningCalls checks that closing the runtime ends a
// call blocked in a KV operation, which closing its module alone would not
// wake, and that a call starting after the close stops at once.
func TestRuntimeCloseStopsRunningCalls(t *testing.T) {
	rt, err := wasmhost.NewRuntime(context.Background(), wasmhost.WithLogger(quietLogger))
	if err != nil {
		t.Fatal(err)
	}
	var s script
	h := s.op(opKVGet, s.put([]byte("k")), 1)
	s.op(opAwait, ref(h), -1)
	p, err := wasmhost.NewPool(context.Background(), compileGuest(t, rt, "script"), wasmhost.WithGuestConfig(s.config()),
		wasmhost.WithKV(blockKV{}), wasmhost.WithMaxInstances(1), wasmhost.WithCallTimeout(time.Hour), wasmhost.WithPoolLogger(quietLogger))
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { _, err := p.Fetch(context.Background(), fetchInput(0)); done <- err }()
	waitFor(t, "the call to start", func() bool { return p.Stats().InUse == 1 })
	if err := rt.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-done:
		if err == nil {
			t.Fatal("the call blocked at close succeeded")
		}
	case <-time.After(30 * time.Second): // a bound on a hang, not on speed
		t.Fatal("closing the runtime did not stop the blocked call")
	}
}

// TestPoolWithCallerGoneAtInit checks that a pool started under a context
// already done fails cleanly or serves: never a stopped instance in the
// pool, nor a panic, with or without tlsgate_on_init.
func TestPoolWithCallerGoneAtInit(t *testing.T) {
	const onInit = `(module (memory (export "memory") 1) (func (export "tlsgate_abi_v1"))
	  (func (export "tlsgate_on_init") (result i32) (i32.const 0))
	  (func (export "tlsgate_on_session_fetch") (result i32) (i32.const 1)))`
	rt := newRuntime(t)
	for name, m := range map[string]*wasmhost.Module{
		"with on_init":    compileBytes(t, rt, "oninit.wasm", compileWAT(t, onInit)),
		"without on_init": compileGuest(t, rt, "trivial"),
	} {
		t.Run(name, func(t *testing.T) {
			gone, cancel := context.WithCancel(context.Background())
			cancel()
			p, err := wasmhost.NewPool(gone, m, wasmhost.WithMaxInstances(1), wasmhost.WithPoolLogger(quietLogger))
			if err != nil {
				if !errors.Is(err, context.Canceled) {
					t.Fatalf("NewPool: %v, want context.Canceled", err)
				}
				return
			}
			defer p.Close(context.Background())
			for range 2 {
				if _, err := p.Fetch(context.Background(), fetchInput(0)); !errors.Is(err, wasmhost.ErrMiss) {
					t.Fatalf("Fetch: %v, want a miss", err)
				}
			}
			if _, err := p.Fetch(gone, fetchInput(0)); !errors.Is(err, context.Canceled) {
				t.Fatalf("Fetch with the caller gone: %v, want context.Canceled", err)
			}
		})
	}
}
