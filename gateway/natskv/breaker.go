package natskv

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/tlsgate/tlsgate/wasmhost"
)

// Breaker tuning. A hung NATS (the process stopped, the TCP connection
// still open) answers nothing: without a breaker every handshake would wait
// its whole fetch deadline, and every store its store deadline.
const (
	// breakerThreshold consecutive failed operations open the breaker.
	breakerThreshold = 5
	// breakerMinBudget: an operation that started with less time than this
	// before its deadline says nothing about NATS when it times out.
	breakerMinBudget = 5 * time.Millisecond
	// probeFirst is the wait before the first probe; it doubles up to
	// probeMax while probes fail.
	probeFirst = 500 * time.Millisecond
	probeMax   = 10 * time.Second
	// probeTimeout bounds one probe (a JetStream account info request).
	probeTimeout = time.Second
)

// errBreakerOpen is wrapped (with wasmhost.ErrUnavailable) by operations
// refused while the breaker is open.
var errBreakerOpen = errors.New("NATS is not answering (breaker open, probing)")

// breaker stops sending key-value operations to a NATS that does not
// answer: breakerThreshold consecutive timeouts or unavailable errors open
// it; while open, operations fail at once with wasmhost.ErrUnavailable; a
// probe in the background, with exponential back-off, closes it as soon as
// JetStream answers again.
type breaker struct {
	open   atomic.Bool
	trips  atomic.Uint64
	probe  func(ctx context.Context) error
	done   <-chan struct{} // the client closed: stop probing
	log    *slog.Logger
	mu     sync.Mutex   // serialises tripping
	failed atomic.Int32 // consecutive failures while closed
}

// allow reports whether an operation may go to NATS now.
func (b *breaker) allow() bool { return !b.open.Load() }

// record notes an operation's result. started and deadline are when it
// started and its context's deadline (zero: none).
func (b *breaker) record(err error, started, deadline time.Time) {
	if err == nil || errors.Is(err, wasmhost.ErrKeyNotFound) || errors.Is(err, wasmhost.ErrKeyExists) ||
		errors.Is(err, wasmhost.ErrLimitExceeded) {
		if b.failed.Load() != 0 { // the hot path only reads
			b.failed.Store(0)
		}
		return
	}
	timedOut := errors.Is(err, context.DeadlineExceeded)
	if timedOut && !deadline.IsZero() && deadline.Sub(started) < breakerMinBudget {
		return // the caller left it no time: not NATS's fault
	}
	if !timedOut && !errors.Is(err, wasmhost.ErrUnavailable) {
		return
	}
	if errors.Is(err, errBreakerOpen) {
		return
	}
	if b.failed.Add(1) < breakerThreshold {
		return
	}
	b.mu.Lock()
	trip := !b.open.Load()
	if trip {
		b.failed.Store(0)
		b.open.Store(true)
	}
	b.mu.Unlock()
	if trip {
		b.trips.Add(1)
		b.log.Warn("natskv: NATS is not answering; key-value operations fail at once until a probe succeeds",
			"consecutive_failures", breakerThreshold, "last_err", err)
		go b.probeUntilClosed()
	}
}

func (b *breaker) probeUntilClosed() {
	wait := probeFirst
	for {
		t := time.NewTimer(wait)
		select {
		case <-b.done:
			t.Stop()
			return
		case <-t.C:
		}
		ctx, cancel := context.WithTimeout(context.Background(), probeTimeout)
		err := b.probe(ctx)
		cancel()
		if err == nil {
			b.open.Store(false)
			b.log.Info("natskv: NATS answers again; key-value operations resume")
			return
		}
		wait = min(2*wait, probeMax)
	}
}
