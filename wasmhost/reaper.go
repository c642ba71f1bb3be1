package wasmhost

import (
	"context"
	"sync"
	"time"
)

// reaper is the runtime's one goroutine that keeps every pool's idle
// instances in line (closing those idle past the pool's idle timeout and
// keeping its minimum warm) and reports dropped guest log lines: one
// goroutine and one ticker for any number of pools, where a pool each
// would cost 10,000 of them on an edge with 10,000 tenants.
type reaper struct {
	mu     sync.Mutex
	pools  map[*Pool]struct{}
	shares map[*Share]struct{}
	// every is the visiting period: half the shortest idle timeout of the
	// pools, kept up to date by add (a shorter one) and by each visit (all
	// of them), never by scanning 10,000 pools on each add or remove.
	every   time.Duration
	changed chan struct{} // a pool came or went: the period may change
	ctx     context.Context
	stop    context.CancelFunc
	done    chan struct{}
}

func newReaper() *reaper {
	ctx, stop := context.WithCancel(context.Background())
	r := &reaper{pools: make(map[*Pool]struct{}), shares: make(map[*Share]struct{}), every: maxReapPeriod, changed: make(chan struct{}, 1), ctx: ctx, stop: stop, done: make(chan struct{})}
	go r.run()
	return r
}

func (r *reaper) add(p *Pool) {
	r.mu.Lock()
	r.pools[p] = struct{}{}
	shorter := p.idleTimeout/2 < r.every
	r.every = min(r.every, p.idleTimeout/2)
	r.mu.Unlock()
	if shorter {
		r.poke()
	}
}

func (r *reaper) remove(p *Pool) {
	r.mu.Lock()
	delete(r.pools, p)
	r.mu.Unlock()
}

func (r *reaper) addShare(s *Share) {
	r.mu.Lock()
	r.shares[s] = struct{}{}
	r.mu.Unlock()
}

func (r *reaper) removeShare(s *Share) {
	r.mu.Lock()
	delete(r.shares, s)
	r.mu.Unlock()
}

func (r *reaper) poke() {
	select {
	case r.changed <- struct{}{}:
	default:
	}
}

// Visiting period bounds.
const (
	maxReapPeriod = 30 * time.Second
	minReapPeriod = 10 * time.Millisecond
)

// period is how often the pools are visited: half the shortest idle
// timeout, between 10 ms and 30 s.
func (r *reaper) period() time.Duration {
	r.mu.Lock()
	defer r.mu.Unlock()
	return max(r.every, minReapPeriod)
}

func (r *reaper) run() {
	defer close(r.done)
	t := time.NewTimer(r.period())
	defer t.Stop()
	for {
		select {
		case <-r.ctx.Done():
			return
		case <-r.changed:
			t.Reset(r.period())
			continue
		case now := <-t.C:
			r.mu.Lock()
			pools := make([]*Pool, 0, len(r.pools))
			r.every = maxReapPeriod
			for p := range r.pools {
				pools = append(pools, p)
				r.every = min(r.every, p.idleTimeout/2)
			}
			shares := make([]*Share, 0, len(r.shares))
			for s := range r.shares {
				shares = append(shares, s)
			}
			r.mu.Unlock()
			for _, s := range shares {
				s.reapIdle(now)
			}
			for _, p := range pools {
				p.reapIdle(now)
				p.replenish(r.ctx)
				p.logLimit.reportDropped(p.logger)
			}
			t.Reset(r.period())
		}
	}
}

// close stops the reaper and waits for it.
func (r *reaper) close() {
	r.stop()
	<-r.done
}
