package wasmhost

import (
	"context"
	"sync"
	"time"
)

// watchdogTick is how often the watchdog looks at the running calls while
// there are any: a call that overruns its deadline is stopped at most this
// much late (plus scheduling). It costs one wake-up per tick while calls
// run, and none while the runtime is idle.
const watchdogTick = time.Millisecond

// watchdog ends the calls of a runtime that overrun their deadline or whose
// caller's context ends. One goroutine serves every pool, where a
// context.WithTimeout per call would cost a timer, a context and their
// allocations on every fetch and store.
//
// A call's context is its callState (see callState.Deadline, Done, Err):
// Done is the instance's stop channel, which the watchdog closes. wazero,
// which watches the context of every call it runs (CloseOnContextDone),
// then closes the module, and a host function blocked in await returns
// StatusTimeout. An instance whose call was stopped is never reused, so its
// stop channel is closed at most once and made once per instance.
type watchdog struct {
	mu      sync.Mutex
	closed  bool // the runtime is closed: every call is stopped, new ones at once
	running map[*callState]struct{}
	wake    chan struct{} // 1-buffered: the first call to start wakes a parked watchdog
	stop    chan struct{}
	done    chan struct{}
}

func newWatchdog() *watchdog {
	w := &watchdog{
		running: make(map[*callState]struct{}),
		wake:    make(chan struct{}, 1),
		stop:    make(chan struct{}),
		done:    make(chan struct{}),
	}
	go w.loop()
	return w
}

// enter starts watching cs, whose deadline and parent are set.
func (w *watchdog) enter(cs *callState) {
	w.mu.Lock()
	if w.closed {
		w.mu.Unlock()
		cs.stop(context.Canceled)
		return
	}
	w.running[cs] = struct{}{}
	first := len(w.running) == 1
	w.mu.Unlock()
	if first {
		select {
		case w.wake <- struct{}{}:
		default:
		}
	}
}

// leave stops watching cs. Once it returns the watchdog no longer stops cs,
// so cs.stopped says for good whether it did.
func (w *watchdog) leave(cs *callState) {
	w.mu.Lock()
	delete(w.running, cs)
	w.mu.Unlock()
}

func (w *watchdog) loop() {
	defer close(w.done)
	t := time.NewTimer(watchdogTick)
	for {
		w.mu.Lock()
		idle := len(w.running) == 0
		w.mu.Unlock()
		if idle {
			select {
			case <-w.wake:
			case <-w.stop:
				return
			}
		}
		t.Reset(watchdogTick)
		select {
		case <-t.C:
		case <-w.stop:
			return
		}
		w.check(time.Now())
	}
}

// check stops every running call past its deadline or whose parent context
// has ended.
func (w *watchdog) check(now time.Time) {
	w.mu.Lock()
	defer w.mu.Unlock()
	for cs := range w.running {
		var err error
		switch {
		case !now.Before(cs.deadline):
			err = context.DeadlineExceeded
		default:
			err = cs.parent.Err()
		}
		if err != nil {
			delete(w.running, cs)
			cs.stop(err)
		}
	}
}

// close stops every running call (a call blocked in a KV operation would
// otherwise wait for ever: closing its module does not wake Go code) and
// the watchdog.
func (w *watchdog) close() {
	w.mu.Lock()
	w.closed = true
	for cs := range w.running {
		delete(w.running, cs)
		cs.stop(context.Canceled)
	}
	w.mu.Unlock()
	close(w.stop)
	<-w.done
}
