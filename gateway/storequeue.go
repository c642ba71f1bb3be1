package gateway

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"
)

// storeQueue runs guests' store exports off the handshake's critical path,
// fairly between tenants. Each tenant has a FIFO of its own, and workers
// take from the tenants in turn, so one tenant's pile-up (a slow or
// faulting guest, a burst) delays and drops only its own stores. It is
// bounded, and never waited for: a tenant at its share (perTenant) drops
// its own oldest store for the new one; a full queue drops the oldest store
// of the tenant holding the most. A store that waited longer than maxAge is
// dropped as stale when its turn comes, so after an outage the workers
// spend themselves on the sessions clients are about to resume, not on a
// backlog. A job is resolved against the tenant current when it runs, so a
// reload never sends a store to a closed pool.
type storeQueue struct {
	size, perTenant int
	maxAge          time.Duration
	lookup          func(tenant string) *tenant
	m               *metrics
	log             *slog.Logger
	ctx             context.Context
	cancel          context.CancelFunc
	wg              sync.WaitGroup
	inqueue         atomic.Int64 // enqueued and not yet finished

	mu       sync.Mutex
	ready    *sync.Cond // signalled when a job is queued or the queue closes
	byTenant map[string][]pendingStore
	turn     []string // tenants with queued stores, in the order workers serve them
	total    int
	closed   bool

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

// newStoreQueue starts workers that run at most size queued stores, at
// most perTenant of them one tenant's.
func newStoreQueue(size, perTenant, workers int, maxAge time.Duration, lookup func(string) *tenant, m *metrics, log *slog.Logger) *storeQueue {
	ctx, cancel := context.WithCancel(context.Background())
	q := &storeQueue{size: size, perTenant: min(perTenant, size), maxAge: maxAge, lookup: lookup, m: m, log: log,
		ctx: ctx, cancel: cancel, byTenant: make(map[string][]pendingStore)}
	q.ready = sync.NewCond(&q.mu)
	for range workers {
		q.wg.Add(1)
		go q.work()
	}
	return q
}

// enqueue adds p (registered earlier) without blocking; it reports false
// when p was dropped.
func (q *storeQueue) enqueue(p pendingStore) bool {
	p.queued = time.Now()
	q.mu.Lock()
	if q.closed {
		q.mu.Unlock()
		q.finished(p)
		q.m.storeDropped(p.tenant, "dropped")
		return false
	}
	var victim *pendingStore
	switch {
	case len(q.byTenant[p.tenant]) >= q.perTenant:
		victim = q.popLocked(p.tenant) // its own oldest
	case q.total >= q.size:
		victim = q.popLocked(q.largestLocked())
	}
	jobs, had := q.byTenant[p.tenant]
	if !had {
		q.turn = append(q.turn, p.tenant)
	}
	q.byTenant[p.tenant] = append(jobs, p)
	q.total++
	q.inqueue.Add(1)
	q.m.queueDepth.Set(float64(q.total))
	q.mu.Unlock()
	q.ready.Signal()
	if victim != nil {
		q.drop(*victim, "dropped")
	}
	return true
}

// popLocked takes tenant's oldest queued store (nil if it has none), and
// forgets the tenant when that was its last.
func (q *storeQueue) popLocked(tenant string) *pendingStore {
	jobs := q.byTenant[tenant]
	if len(jobs) == 0 {
		return nil
	}
	p := jobs[0]
	jobs[0] = pendingStore{}
	if len(jobs) == 1 {
		delete(q.byTenant, tenant)
		for i, t := range q.turn {
			if t == tenant {
				q.turn = append(q.turn[:i], q.turn[i+1:]...)
				break
			}
		}
	} else {
		q.byTenant[tenant] = jobs[1:]
	}
	q.total--
	return &p
}

// largestLocked returns the tenant with the most queued stores.
func (q *storeQueue) largestLocked() string {
	best, n := "", -1
	for t, jobs := range q.byTenant {
		if len(jobs) > n {
			best, n = t, len(jobs)
		}
	}
	return best
}

// next waits for a store to run: the oldest of the tenant whose turn it
// is. It returns false once the queue is closed and empty.
func (q *storeQueue) next() (pendingStore, bool) {
	q.mu.Lock()
	defer q.mu.Unlock()
	for q.total == 0 && !q.closed {
		q.ready.Wait()
	}
	if q.total == 0 {
		return pendingStore{}, false
	}
	tenant := q.turn[0]
	p := q.popLocked(tenant)
	if _, more := q.byTenant[tenant]; more { // to the back of the line
		q.turn = append(q.turn[1:], tenant)
	}
	q.m.queueDepth.Set(float64(q.total))
	return *p, true
}

// drop forgets a queued store.
func (q *storeQueue) drop(p pendingStore, result string) {
	q.finished(p)
	q.inqueue.Add(-1)
	q.m.storeDropped(p.tenant, result)
}

func (q *storeQueue) work() {
	defer q.wg.Done()
	for {
		p, ok := q.next()
		if !ok {
			return
		}
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
	q.m.storeDone(p.tenant, len(p.in.Session), time.Since(start), err)
	switch storeResult(err) {
	case "refused":
		q.log.Debug("session store refused by the guest (ACCESS_DENIED): not kept", "tenant", p.tenant)
	case "error":
		q.log.Debug("session store failed", "tenant", p.tenant, "err", err)
	}
}

// idle reports whether no store is queued or running.
func (q *storeQueue) idle() bool { return q.inqueue.Load() == 0 }

// close stops accepting stores and runs what is queued until ctx is done;
// then the rest is dropped. Safe to call twice.
func (q *storeQueue) close(ctx context.Context) error {
	q.mu.Lock()
	q.closed = true
	q.mu.Unlock()
	q.ready.Broadcast()
	done := make(chan struct{})
	go func() { q.wg.Wait(); close(done) }()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
	}
	left := q.inqueue.Load() // queued or running when the deadline cut in
	q.cancel()               // workers drop what is left, quickly
	<-done
	if left == 0 {
		return nil // nothing was cut: the deadline went elsewhere
	}
	return fmt.Errorf("%d stores not run: %w", left, ctx.Err())
}
