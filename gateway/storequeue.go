package gateway

import (
	"context"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"
)

// storeQueue runs guests' store exports off the handshake's critical path.
// It is bounded: when full, the oldest queued store is dropped for the new
// one, and counted, never waited for; a store that waited longer than
// maxAge is dropped as stale when its turn comes. So after an outage the
// workers spend themselves on the sessions clients are about to resume, not
// on a backlog. A job is resolved against the tenant current when it runs,
// so a reload never sends a store to a closed pool.
type storeQueue struct {
	jobs    chan pendingStore
	maxAge  time.Duration
	lookup  func(tenant string) *tenant
	m       *metrics
	log     *slog.Logger
	ctx     context.Context
	cancel  context.CancelFunc
	mu      sync.RWMutex // guards closed against enqueue
	closed  bool
	wg      sync.WaitGroup
	inqueue atomic.Int64 // enqueued and not yet finished
	// inflight maps tenant+identifier of each queued store to a channel
	// closed when that store has finished (or was dropped), so a fetch that
	// misses on a session this gateway is still storing can wait for it.
	inflight sync.Map
}

func inflightKey(tenant string, id []byte) string { return tenant + "\x00" + string(id) }

// storing returns a channel closed when this gateway's store of tenant's
// session id finishes, or nil when no such store is queued or running.
func (q *storeQueue) storing(tenant string, id []byte) <-chan struct{} {
	if ch, ok := q.inflight.Load(inflightKey(tenant, id)); ok {
		return ch.(chan struct{})
	}
	return nil
}

// register marks p's session as being stored, from the moment its ticket is
// issued: a TLS 1.3 client can receive the ticket, and come back with it,
// before the issuing handshake has even returned. Every register is
// followed by enqueue or abandon.
func (q *storeQueue) register(p pendingStore) {
	q.inflight.Store(inflightKey(p.tenant, p.in.SessionID), make(chan struct{}))
}

// abandon forgets a registered store whose handshake failed.
func (q *storeQueue) abandon(p pendingStore) { q.finished(p) }

func (q *storeQueue) finished(p pendingStore) {
	if ch, ok := q.inflight.LoadAndDelete(inflightKey(p.tenant, p.in.SessionID)); ok {
		close(ch.(chan struct{}))
	}
}

func newStoreQueue(size, workers int, maxAge time.Duration, lookup func(string) *tenant, m *metrics, log *slog.Logger) *storeQueue {
	ctx, cancel := context.WithCancel(context.Background())
	q := &storeQueue{jobs: make(chan pendingStore, size), maxAge: maxAge, lookup: lookup, m: m, log: log, ctx: ctx, cancel: cancel}
	for range workers {
		q.wg.Add(1)
		go q.work()
	}
	return q
}

// enqueue adds p (registered earlier) without blocking; it reports false
// when p was dropped.
func (q *storeQueue) enqueue(p pendingStore) bool {
	q.mu.RLock()
	defer q.mu.RUnlock()
	if q.closed {
		q.finished(p)
		q.m.storeDropped(p.tenant, "dropped")
		return false
	}
	p.queued = time.Now()
	for range 2 {
		select {
		case q.jobs <- p:
			q.inqueue.Add(1)
			q.m.queueDepth.Set(float64(len(q.jobs)))
			return true
		default:
		}
		// Full: make room by dropping the oldest, which is the least
		// likely to be resumed soon.
		select {
		case old := <-q.jobs:
			q.drop(old, "dropped")
		default:
		}
	}
	q.finished(p)
	q.m.storeDropped(p.tenant, "dropped")
	return false
}

// drop forgets a queued store.
func (q *storeQueue) drop(p pendingStore, result string) {
	q.finished(p)
	q.inqueue.Add(-1)
	q.m.storeDropped(p.tenant, result)
}

func (q *storeQueue) work() {
	defer q.wg.Done()
	for p := range q.jobs {
		q.m.queueDepth.Set(float64(len(q.jobs)))
		if time.Since(p.queued) > q.maxAge {
			q.drop(p, "stale")
			continue
		}
		q.run(p)
		q.finished(p)
		q.inqueue.Add(-1)
	}
}

func (q *storeQueue) run(p pendingStore) {
	t := q.lookup(p.tenant)
	if t == nil || t.pool == nil || q.ctx.Err() != nil {
		q.m.storeDropped(p.tenant, "dropped")
		return
	}
	ctx, cancel := context.WithTimeout(q.ctx, t.cfg.Guest.StoreDeadline)
	defer cancel()
	start := time.Now()
	err := t.pool.Store(ctx, p.in)
	q.m.storeDone(p.tenant, time.Since(start), err)
	if err != nil {
		q.log.Debug("session store failed", "tenant", p.tenant, "err", err)
	}
}

// idle reports whether no store is queued or running.
func (q *storeQueue) idle() bool { return q.inqueue.Load() == 0 }

// close stops accepting stores and runs what is queued until ctx is done;
// then the rest is dropped. Safe to call twice.
func (q *storeQueue) close(ctx context.Context) error {
	q.mu.Lock()
	if !q.closed {
		q.closed = true
		close(q.jobs)
	}
	q.mu.Unlock()
	done := make(chan struct{})
	go func() { q.wg.Wait(); close(done) }()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		q.cancel() // workers drop what is left, quickly
		<-done
		return ctx.Err()
	}
}
