package wasmhost_test

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tlsgate/tlsgate/abi"
	"github.com/tlsgate/tlsgate/wasmhost"
)

// countingObserver tracks live instances and remembers the most seen at once.
type countingObserver struct {
	live, maxLive, calls, kvOps atomic.Int64
	mu                          sync.Mutex
	reasons                     map[string]int
}

var _ wasmhost.Observer = (*countingObserver)(nil)

func (o *countingObserver) CallDone(string, string, time.Duration, error) { o.calls.Add(1) }
func (o *countingObserver) KVOp(string, string, time.Duration, error)     { o.kvOps.Add(1) }
func (o *countingObserver) InstanceCreated(string) {
	n := o.live.Add(1)
	for m := o.maxLive.Load(); n > m && !o.maxLive.CompareAndSwap(m, n); m = o.maxLive.Load() {
	}
}
func (o *countingObserver) GuestSuspended(string, time.Duration) {}

func (o *countingObserver) InstanceDiscarded(_ string, reason string) {
	if reason != string(wasmhost.FaultInit) { // init failures were never counted as created
		o.live.Add(-1)
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.reasons == nil {
		o.reasons = map[string]int{}
	}
	o.reasons[reason]++
}

// TestPoolHammer runs 32 goroutines against one pool of at most 4
// instances, storing and fetching through real JetStream, with some calls
// given deadlines too short to finish; the pool never exceeds its maximum.
func TestPoolHammer(t *testing.T) {
	const (
		workers    = 32
		iterations = 40
		maxInst    = 4
	)
	obs := &countingObserver{}
	rt := newRuntime(t)
	p := newPool(t, compileGuest(t, rt, "kv"), wasmhost.WithKV(newBucket(t)), wasmhost.WithMaxInstances(maxInst),
		wasmhost.WithObserver(obs), wasmhost.WithCallTimeout(testTimeout), wasmhost.WithIdleTimeout(20*time.Millisecond))
	var wg sync.WaitGroup
	var hits, shortFailures atomic.Int64
	errs := make(chan error, workers)
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range iterations {
				id := sessionID(0)
				id[0], id[1] = byte(w), byte(i)
				val := []byte{byte(w), byte(i)}
				ctx := context.Background()
				if i%10 == 9 { // a deadline too short to finish
					c, cancel := context.WithTimeout(ctx, 50*time.Microsecond)
					_, err := p.Fetch(c, wasmhost.FetchInput{SessionID: id})
					cancel()
					if err != nil {
						shortFailures.Add(1)
					}
					continue
				}
				if err := p.Store(ctx, wasmhost.StoreInput{SessionID: id, Session: val, TTL: time.Minute}); err != nil {
					errs <- err
					return
				}
				got, err := p.Fetch(ctx, wasmhost.FetchInput{SessionID: id})
				if err != nil || !bytes.Equal(got, val) {
					errs <- errors.Join(errors.New("fetch after store"), err)
					return
				}
				hits.Add(1)
				if st := p.Stats(); st.Live > maxInst || st.InUse > maxInst {
					errs <- errors.New("pool above its maximum")
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	// The reaper may be refilling the idle minimum after the discards of
	// the short-deadline calls: give it a bounded moment to finish.
	st := p.Stats()
	for deadline := time.Now().Add(30 * time.Second); (st.InUse != 0 || st.Live != st.Idle) && time.Now().Before(deadline); st = p.Stats() {
		time.Sleep(5 * time.Millisecond)
	}
	t.Logf("hits %d, short-deadline failures %d, max live %d, stats %+v", hits.Load(), shortFailures.Load(), obs.maxLive.Load(), st)
	if obs.maxLive.Load() > maxInst {
		t.Fatalf("%d instances alive at once, max %d", obs.maxLive.Load(), maxInst)
	}
	if st.InUse != 0 || st.Waiting != 0 || st.Live != st.Idle {
		t.Fatalf("pool not at rest: %+v", st)
	}
	if want := int64(workers * iterations * 9 / 10 * 2); obs.calls.Load() < want {
		t.Fatalf("observer saw %d calls, want at least %d", obs.calls.Load(), want)
	}
}

// slowScript starts a get of the key "slow" and awaits it until the deadline.
func slowScript(s *script) {
	k := s.put([]byte("slow"))
	h := s.op(opKVGet, k, 4)
	s.op(opAwait, ref(h), -1)
}

func TestPoolClose(t *testing.T) {
	rt := newRuntime(t)
	kv := &slowKV{KV: newBucket(t)}
	ctx := context.Background()

	t.Run("waits for in-flight calls, then refuses new ones", func(t *testing.T) {
		p := scriptPool(t, rt, slowScript, wasmhost.WithKV(kv), wasmhost.WithCallTimeout(200*time.Millisecond))
		done := make(chan error, 1)
		go func() { _, err := p.Fetch(ctx, fetchInput(0)); done <- err }()
		waitFor(t, "the call to start", func() bool { return p.Stats().InUse == 1 })
		cctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		defer cancel()
		if err := p.Close(cctx); err != nil {
			t.Fatalf("Close: %v", err)
		}
		// Close returns once the call has given its instance back; Fetch
		// returns to its caller just after.
		if st := p.Stats(); st.InUse != 0 {
			t.Fatalf("Close returned with the call still running: %+v", st)
		}
		select {
		case err := <-done:
			guestErr(t, err, wasmhost.FaultTimeout)
		case <-time.After(10 * time.Second):
			t.Fatal("the in-flight call did not return after Close")
		}
		if _, err := p.Fetch(ctx, fetchInput(0)); !errors.Is(err, wasmhost.ErrPoolClosed) {
			t.Fatalf("Fetch after Close: %v, want ErrPoolClosed", err)
		}
		if err := p.Store(ctx, wasmhost.StoreInput{SessionID: []byte("id"), TTL: time.Minute}); !errors.Is(err, wasmhost.ErrPoolClosed) {
			t.Fatalf("Store after Close: %v, want ErrPoolClosed", err)
		}
		if err := p.Close(ctx); err != nil {
			t.Fatalf("second Close: %v", err)
		}
		if st := p.Stats(); st.Live != 0 {
			t.Fatalf("stats after Close %+v", st)
		}
	})
	t.Run("a deadline cuts running calls", func(t *testing.T) {
		p := scriptPool(t, rt, func(s *script) { s.op(opLoop) }, wasmhost.WithCallTimeout(10*time.Second))
		done := make(chan error, 1)
		go func() { _, err := p.Fetch(ctx, fetchInput(0)); done <- err }()
		waitFor(t, "the call to start", func() bool { return p.Stats().InUse == 1 })
		cctx, cancel := context.WithTimeout(ctx, 20*time.Millisecond)
		defer cancel()
		if err := p.Close(cctx); !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("Close: %v, want DeadlineExceeded", err)
		}
		select {
		case err := <-done:
			if err == nil {
				t.Fatal("the cut call succeeded")
			}
		case <-time.After(30 * time.Second): // a bound on a hang, not on speed
			t.Fatal("the running call was not stopped")
		}
	})
	t.Run("waiters", func(t *testing.T) {
		p := scriptPool(t, rt, slowScript, wasmhost.WithKV(kv), wasmhost.WithMaxInstances(1), wasmhost.WithCallTimeout(300*time.Millisecond))
		go func() { _, _ = p.Fetch(ctx, fetchInput(0)) }()
		waitFor(t, "the call to start", func() bool { return p.Stats().InUse == 1 })
		// A caller whose deadline passes while waiting gets a context error.
		wctx, cancel := context.WithTimeout(ctx, 20*time.Millisecond)
		defer cancel()
		_, err := p.Fetch(wctx, fetchInput(0))
		var ge *wasmhost.GuestError
		if !errors.Is(err, context.DeadlineExceeded) || errors.As(err, &ge) {
			t.Fatalf("waiting Fetch: %v, want a plain DeadlineExceeded", err)
		}
		// A waiter is told when the pool closes.
		done := make(chan error, 1)
		go func() { _, err := p.Fetch(ctx, fetchInput(0)); done <- err }()
		waitFor(t, "a waiter", func() bool { return p.Stats().Waiting == 1 })
		_ = p.Close(ctx)
		if err := <-done; !errors.Is(err, wasmhost.ErrPoolClosed) {
			t.Fatalf("waiter: %v, want ErrPoolClosed", err)
		}
	})
}

func TestPoolIdle(t *testing.T) {
	rt := newRuntime(t)
	kv := &slowKV{KV: newBucket(t)}
	obs := &countingObserver{}
	p := scriptPool(t, rt, slowScript, wasmhost.WithKV(kv), wasmhost.WithMaxInstances(4), wasmhost.WithMinIdle(1),
		wasmhost.WithIdleTimeout(40*time.Millisecond), wasmhost.WithCallTimeout(30*time.Millisecond), wasmhost.WithObserver(obs))
	var wg sync.WaitGroup
	for range 4 {
		wg.Add(1)
		go func() { defer wg.Done(); _, _ = p.Fetch(context.Background(), fetchInput(0)) }()
	}
	wg.Wait()
	// All four timed out and were discarded; the reaper keeps one warm.
	waitFor(t, "the reaper to refill the idle stack", func() bool { return p.Stats().Idle == 1 })
	if st := p.Stats(); st.Discarded["timeout"] != 4 || st.Live != 1 {
		t.Fatalf("stats %+v", st)
	}

	q := scriptPool(t, rt, func(s *script) { s.op(opReturn, notFound) }, wasmhost.WithMaxInstances(4), wasmhost.WithMinIdle(1),
		wasmhost.WithIdleTimeout(40*time.Millisecond), wasmhost.WithObserver(obs))
	// Four concurrent callers need four instances; idle ones are reaped down to one.
	start := make(chan struct{})
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			for range 20 {
				_, _ = q.Fetch(context.Background(), fetchInput(0))
			}
		}()
	}
	close(start)
	wg.Wait()
	created := q.Stats().Created
	waitFor(t, "idle instances to be reaped", func() bool { return q.Stats().Live == 1 })
	if st := q.Stats(); st.Discarded["idle"] != created-1 {
		t.Fatalf("stats %+v, want %d reaped", st, created-1)
	}
}

// recordHandler counts log records and keeps the last one.
type recordHandler struct {
	mu    sync.Mutex
	n     int
	last  slog.Record
	attrs []slog.Attr
}

func (h *recordHandler) Enabled(context.Context, slog.Level) bool { return true }
func (h *recordHandler) Handle(_ context.Context, r slog.Record) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.n++
	h.last = r
	return nil
}
func (h *recordHandler) WithAttrs(as []slog.Attr) slog.Handler {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.attrs = append(h.attrs, as...)
	return h
}
func (h *recordHandler) WithGroup(string) slog.Handler { return h }

func TestGuestLog(t *testing.T) {
	rt := newRuntime(t)
	h := &recordHandler{}
	var s script
	msg := s.put([]byte("hello from the guest"))
	for range 80 {
		s.op(opLog, int32(abi.LogWarn), msg, 20)
	}
	p := newPool(t, compileGuest(t, rt, "script"), wasmhost.WithTenant("acme"), wasmhost.WithGuestConfig(s.config()),
		wasmhost.WithPoolLogger(slog.New(h)))
	if _, err := p.Fetch(context.Background(), fetchInput(0)); err != nil {
		t.Fatal(err)
	}
	h.mu.Lock()
	n, last, attrs := h.n, h.last, h.attrs
	h.mu.Unlock()
	if n < 50 || n > 52 { // burst of 50, plus what refilled during the call
		t.Fatalf("%d messages logged, want the burst of 50", n)
	}
	if last.Message != "hello from the guest" || last.Level != slog.LevelWarn {
		t.Fatalf("last record %q at %v", last.Message, last.Level)
	}
	var names []string
	for _, a := range attrs {
		names = append(names, a.Key+"="+a.Value.String())
	}
	if got := strings.Join(names, " "); got != "tenant=acme module=script.wasm" {
		t.Fatalf("logger attrs %q", got)
	}
}

// TestGuestLogInvalidUTF8: the host checks a message's range, not its
// text; bytes that are not UTF-8 reach the log as U+FFFD, one per bad run.
func TestGuestLogInvalidUTF8(t *testing.T) {
	rt := newRuntime(t)
	h := &recordHandler{}
	var s script
	msg := s.put([]byte("ok \xff\xfe end"))
	s.op(opLog, int32(abi.LogInfo), msg, 9)
	p := newPool(t, compileGuest(t, rt, "script"), wasmhost.WithGuestConfig(s.config()), wasmhost.WithPoolLogger(slog.New(h)))
	if _, err := p.Fetch(context.Background(), fetchInput(0)); err != nil {
		t.Fatal(err)
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.last.Message != "ok \uFFFD end" {
		t.Fatalf("logged %q, want %q", h.last.Message, "ok \uFFFD end")
	}
}
