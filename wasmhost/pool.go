package wasmhost

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"runtime"
	"slices"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"golang.org/x/time/rate"

	"github.com/tlsgate/tlsgate/abi"
)

// Pool runs one module for one tenant: a bounded set of instances, each
// serving one call at a time. Idle instances form a LIFO stack (the warmest
// is reused first); the pool keeps at least WithMinIdle of them (none for a
// lazy pool), and the runtime's one reaper closes those idle longer than
// WithIdleTimeout. An instance that
// trapped, timed out, hit its memory cap or misused the ABI is closed, never
// returned; its slot is refilled lazily. A Pool is safe for concurrent use.
type Pool struct {
	ops         sync.WaitGroup // KV operations launched on goroutines of their own
	m           *Module
	tenant      string
	guestConfig []byte
	kv          KV
	max         int
	minIdle     int
	idleTimeout time.Duration
	callTimeout time.Duration
	initTimeout time.Duration
	logger      *slog.Logger // with tenant and module attributes
	obs         Observer
	logLimit    logLimiter
	// suspend are the hooks' fault breakers, by CallKind (see
	// WithFaultSuspension): a guest whose fetch loops may store well.
	suspend   [len(abi.Hooks)]suspender
	writeCall int           // see WithWriteBudget
	writeRate *rate.Limiter // nil: no limit
	cpu       *rate.Limiter // guest CPU in microseconds (WithCPUBudget); nil: no limit
	cpuLog    rate.Sometimes
	share     *Share // nil: the pool's instances are its own

	mu        sync.Mutex
	idle      []*instance            // LIFO: top is the most recently used
	all       map[*instance]struct{} // every instance alive, idle or in use
	live      int                    // instances alive or being created
	inUse     int                    // instances checked out (or slots being filled for a caller)
	waiters   []*waiter              // FIFO of callers waiting for an instance
	closed    bool
	drained   chan struct{} // closed once closed && inUse == 0
	isDrained bool
	created   uint64
	discarded map[string]uint64
}

// grant is what a waiter receives: an instance, a free slot (both nil) or
// an error.
type grant struct {
	inst *instance
	err  error
}

type waiter struct{ ch chan grant }

// PoolStats is a snapshot of a pool's counters.
type PoolStats struct {
	Live      int               // instances alive (idle, in use or being created)
	Idle      int               // instances waiting on the idle stack
	InUse     int               // instances running a call
	Waiting   int               // callers waiting for an instance
	Created   uint64            // instances created since NewPool
	Discarded map[string]uint64 // instances closed, by reason (see Observer.InstanceDiscarded)
}

// NewPool creates a pool for module m and instantiates max(1, min idle)
// instances up front (at most the maximum), so that a guest whose
// _initialize or tlsgate_on_init fails is refused here with a *GuestError of
// Kind FaultInit. Close the pool when done.
func NewPool(ctx context.Context, m *Module, opts ...PoolOption) (*Pool, error) {
	if m == nil {
		return nil, errors.New("wasmhost: NewPool: nil module")
	}
	select {
	case <-m.closed:
		return nil, fmt.Errorf("wasmhost: NewPool: module %q is closed", m.name)
	default:
	}
	o := poolOptions{
		tenant:      "default",
		max:         2 * runtime.GOMAXPROCS(0),
		minIdle:     1,
		idleTimeout: 60 * time.Second,
		callTimeout: 100 * time.Millisecond,
		initTimeout: 5 * time.Second,
		logger:      m.rt.logger,
		obs:         nopObserver{},
		suspend:     suspender{threshold: 5, first: time.Second, max: time.Minute},
	}
	for _, opt := range opts {
		opt(&o)
	}
	if err := o.validate(); err != nil {
		return nil, err
	}
	p := &Pool{
		m:           m,
		tenant:      o.tenant,
		guestConfig: o.guestConfig,
		kv:          o.kv,
		max:         o.max,
		minIdle:     min(o.minIdle, o.max),
		idleTimeout: o.idleTimeout,
		callTimeout: o.callTimeout,
		initTimeout: o.initTimeout,
		logger:      o.logger.With("tenant", o.tenant, "module", m.name),
		obs:         o.obs,
		logLimit:    newLogLimiter(guestLogRate, guestLogBurst),
		writeCall:   o.writeCall,
		all:         make(map[*instance]struct{}),
		drained:     make(chan struct{}),
		discarded:   make(map[string]uint64),
	}
	for i := range p.suspend {
		p.suspend[i] = suspender{threshold: o.suspend.threshold, first: o.suspend.first, max: o.suspend.max}
	}
	if o.share.fits(p) {
		p.share, p.minIdle = o.share, 0
	}
	if o.cpuPerSecond > 0 {
		us := int(o.cpuPerSecond / time.Microsecond)
		p.cpu = rate.NewLimiter(rate.Limit(us), us)
	}
	p.cpuLog = rate.Sometimes{First: 1, Interval: 10 * time.Second}
	if o.writeRate > 0 {
		p.writeRate = rate.NewLimiter(rate.Limit(o.writeRate), max(o.writeRate, abi.MaxKeyLen+abi.MaxValueLen))
	}
	for i := 0; i < min(max(p.minIdle, o.prewarm), p.max); i++ {
		p.mu.Lock()
		p.live++
		p.inUse++
		p.mu.Unlock()
		inst, err := p.createInUse(ctx)
		if err != nil {
			_ = p.Close(context.Background())
			return nil, err
		}
		p.release(inst, "")
	}
	m.rt.reaper.add(p)
	return p, nil
}

// Stats returns a snapshot of the pool's counters.
func (p *Pool) Stats() PoolStats {
	p.mu.Lock()
	defer p.mu.Unlock()
	return PoolStats{
		Live:      p.live,
		Idle:      len(p.idle),
		InUse:     p.inUse,
		Waiting:   len(p.waiters),
		Created:   p.created,
		Discarded: maps.Clone(p.discarded),
	}
}

// acquire checks an instance out: the top of the idle stack, else a new one
// if the pool is below its maximum, else the next one returned (FIFO).
func (p *Pool) acquire(ctx context.Context) (*instance, error) {
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return nil, ErrPoolClosed
	}
	if n := len(p.idle); n > 0 {
		inst := p.idle[n-1]
		p.idle[n-1] = nil
		p.idle = p.idle[:n-1]
		p.m.rt.idle.drop(inst)
		p.inUse++
		p.mu.Unlock()
		return inst, nil
	}
	if p.live < p.max {
		p.live++
		p.inUse++
		if p.share != nil {
			if inst := p.share.take(); inst != nil {
				inst.cs.pool = p // this tenant's call from now on
				p.all[inst] = struct{}{}
				p.mu.Unlock()
				return inst, nil
			}
		}
		p.mu.Unlock()
		return p.createFor(ctx)
	}
	w := &waiter{ch: make(chan grant, 1)}
	p.waiters = append(p.waiters, w)
	p.mu.Unlock()

	select {
	case g := <-w.ch:
		return p.take(ctx, g)
	case <-ctx.Done():
	}
	p.mu.Lock()
	if i := slices.Index(p.waiters, w); i >= 0 {
		p.waiters = slices.Delete(p.waiters, i, i+1)
		p.mu.Unlock()
		return nil, fmt.Errorf("wasmhost: wait for an instance: %w", ctx.Err())
	}
	p.mu.Unlock()
	// Granted while ctx ended: hand the grant back.
	switch g := <-w.ch; {
	case g.err != nil:
		return nil, g.err
	case g.inst != nil:
		p.release(g.inst, "")
	default:
		p.mu.Lock()
		p.live--
		p.inUse--
		p.handOffSlotLocked()
		p.checkDrainedLocked()
		p.mu.Unlock()
	}
	return nil, fmt.Errorf("wasmhost: wait for an instance: %w", ctx.Err())
}

func (p *Pool) take(ctx context.Context, g grant) (*instance, error) {
	switch {
	case g.err != nil:
		return nil, g.err
	case g.inst != nil:
		return g.inst, nil
	}
	// A free slot: an idle shared instance before a new one.
	if p.share != nil {
		p.mu.Lock()
		inst := p.share.take()
		if inst != nil {
			inst.cs.pool = p
			p.all[inst] = struct{}{}
		}
		p.mu.Unlock()
		if inst != nil {
			return inst, nil
		}
	}
	return p.createFor(ctx)
}

// createFor fills a slot already counted in live and inUse for a caller
// that waits at most until ctx ends. The instance is built under its own
// init timeout, never the caller's deadline (a handshake's fetch deadline
// is far shorter than a cold instantiation on a loaded machine): when the
// caller gives up first, it gets an error (its handshake goes full) and
// the instance, once built, joins the pool for the next caller instead of
// being thrown away half-built.
func (p *Pool) createFor(ctx context.Context) (*instance, error) {
	type built struct {
		inst *instance
		err  error
	}
	ch := make(chan built, 1)
	go func() {
		inst, err := p.createInUse(context.WithoutCancel(ctx))
		ch <- built{inst, err}
	}()
	select {
	case b := <-ch:
		return b.inst, b.err
	case <-ctx.Done():
	}
	go func() {
		if b := <-ch; b.err == nil {
			p.release(b.inst, "")
		}
	}()
	return nil, fmt.Errorf("wasmhost: instance not ready yet (it goes on starting for the next call): %w", ctx.Err())
}

// createInUse fills a slot already counted in live and inUse.
func (p *Pool) createInUse(ctx context.Context) (*instance, error) {
	inst, err := p.newInstance(ctx)
	p.mu.Lock()
	defer p.mu.Unlock()
	if err != nil {
		p.live--
		p.inUse--
		p.discarded[string(FaultInit)]++
		p.handOffSlotLocked()
		p.checkDrainedLocked()
		return nil, err
	}
	p.created++
	p.all[inst] = struct{}{}
	return inst, nil
}

// release returns a checked-out instance; a non-empty reason discards it.
func (p *Pool) release(inst *instance, reason string) {
	now := time.Now()
	switch {
	case reason != "":
	case inst.memoryFull():
		// At its cap, the next call could not grow: retire it, and give
		// back the memory, instead of keeping the largest instances.
		reason = string(FaultMemory)
	case !p.m.rt.mem.grew(inst, int64(inst.mem.Size())):
		reason = "budget" // all instances together are past the runtime's budget
	}
	p.mu.Lock()
	p.inUse--
	if reason == "" && p.closed {
		reason = "closed"
	}
	if reason != "" {
		p.live--
		delete(p.all, inst)
		p.discarded[reason]++
		p.handOffSlotLocked()
		p.checkDrainedLocked()
		p.mu.Unlock()
		inst.close()
		p.obs.InstanceDiscarded(p.tenant, reason)
		return
	}
	if len(p.waiters) > 0 {
		w := p.popWaiterLocked()
		p.inUse++
		w.ch <- grant{inst: inst}
		p.mu.Unlock()
		return
	}
	if p.share != nil { // idle in the share, for any tenant of it
		p.live--
		delete(p.all, inst)
		p.mu.Unlock()
		if !p.share.put(inst, now, p.idleTimeout) {
			inst.close()
			p.obs.InstanceDiscarded(p.tenant, "closed")
		}
		return
	}
	inst.lastUsed = now
	p.idle = append(p.idle, inst)
	p.m.rt.idle.push(inst, p)
	p.mu.Unlock()
}

// evict closes e's instance if it is still idle in p since the LRU saw it
// (not taken and returned since), because the runtime's budget needs its
// room for another instance; it reports whether it did.
func (p *Pool) evict(e idleEntry) bool {
	inst := e.inst
	p.mu.Lock()
	i := slices.Index(p.idle, inst)
	if i < 0 || !e.idleSince() {
		p.mu.Unlock()
		return false
	}
	p.idle = slices.Delete(p.idle, i, i+1)
	p.m.rt.idle.drop(inst)
	delete(p.all, inst)
	p.live--
	p.discarded["evicted"]++
	p.handOffSlotLocked()
	p.mu.Unlock()
	inst.close()
	p.obs.InstanceDiscarded(p.tenant, "evicted")
	return true
}

func (p *Pool) popWaiterLocked() *waiter {
	w := p.waiters[0]
	p.waiters[0] = nil
	p.waiters = p.waiters[1:]
	return w
}

// handOffSlotLocked gives a freed slot to the first waiter, who creates the
// instance itself.
func (p *Pool) handOffSlotLocked() {
	if p.closed || len(p.waiters) == 0 || p.live >= p.max {
		return
	}
	w := p.popWaiterLocked()
	p.live++
	p.inUse++
	w.ch <- grant{}
}

func (p *Pool) checkDrainedLocked() {
	if p.closed && p.inUse == 0 && !p.isDrained {
		p.isDrained = true
		close(p.drained)
	}
}

// reapIdle closes instances idle for longer than the idle timeout, never
// going below the minimum idle count; the runtime's reaper calls it, then
// replenish, which refills the idle stack up to that minimum.
func (p *Pool) reapIdle(now time.Time) {
	p.mu.Lock()
	var victims []*instance
	k := 0
	for len(p.idle)-k > p.minIdle && now.Sub(p.idle[k].lastUsed) >= p.idleTimeout {
		victims = append(victims, p.idle[k])
		delete(p.all, p.idle[k])
		p.m.rt.idle.drop(p.idle[k])
		k++
	}
	if k > 0 {
		n := copy(p.idle, p.idle[k:])
		clear(p.idle[n:])
		p.idle = p.idle[:n]
		p.live -= k
		p.discarded["idle"] += uint64(k)
	}
	p.mu.Unlock()
	for _, inst := range victims {
		inst.close()
		p.obs.InstanceDiscarded(p.tenant, "idle")
	}
}

func (p *Pool) replenish(ctx context.Context) {
	for i := 0; i < p.minIdle; i++ {
		p.mu.Lock()
		if p.closed || len(p.idle) >= p.minIdle || p.live >= p.max {
			p.mu.Unlock()
			return
		}
		p.live++
		p.inUse++
		p.mu.Unlock()
		inst, err := p.createInUse(ctx)
		if err != nil {
			if ctx.Err() == nil {
				p.logger.Warn("wasmhost: cannot keep an idle instance warm", "err", err)
			}
			return
		}
		p.release(inst, "")
	}
}

// Close stops the pool: later calls fail with ErrPoolClosed, idle instances
// are closed at once, and Close waits for in-flight calls to finish and
// their instances to close. When ctx ends first, the instances still running
// are closed under their calls (which fail) and Close returns ctx's error.
// Safe to call more than once.
func (p *Pool) Close(ctx context.Context) error {
	p.mu.Lock()
	var idle []*instance
	if !p.closed {
		p.closed = true
		idle = p.idle
		p.idle = nil
		for _, inst := range idle {
			delete(p.all, inst)
			p.m.rt.idle.drop(inst)
		}
		p.live -= len(idle)
		p.discarded["closed"] += uint64(len(idle))
		for _, w := range p.waiters {
			w.ch <- grant{err: ErrPoolClosed}
		}
		p.waiters = nil
		p.checkDrainedLocked()
	}
	p.mu.Unlock()
	for _, inst := range idle {
		inst.close()
		p.obs.InstanceDiscarded(p.tenant, "closed")
	}
	p.m.rt.reaper.remove(p)
	p.logLimit.reportDropped(p.logger)
	select {
	case <-p.drained:
		p.waitOps(ctx) // their contexts ended with their calls
		return nil
	case <-ctx.Done():
	}
	p.mu.Lock()
	busy := slices.Collect(maps.Keys(p.all))
	p.mu.Unlock()
	for _, inst := range busy {
		inst.cut() // ends the running call; release discards it
	}
	return fmt.Errorf("wasmhost: close pool of tenant %q: %d calls still running: %w", p.tenant, len(busy), ctx.Err())
}

// guestLog writes a guest's message to the pool's logger, rate-limited.
// waitOps waits, until ctx is done, for launched KV operations to return, so
// none touches the KV or the observer after Close.
func (p *Pool) waitOps(ctx context.Context) {
	done := make(chan struct{})
	go func() { p.ops.Wait(); close(done) }()
	select {
	case <-done:
	case <-ctx.Done():
	}
}

func (p *Pool) guestLog(cs *callState, level slog.Level, msg []byte) {
	// The caller's context, not the call's: a handler may keep it, and the
	// call's belongs to the instance.
	ctx := cs.parent
	if ctx == nil {
		ctx = context.Background()
	}
	if !p.logger.Enabled(ctx, level) {
		return
	}
	ok, dropped := p.logLimit.allow(time.Now())
	if !ok {
		return
	}
	// The host checks the range, not the text: invalid UTF-8 (a guest's
	// bug, or a message truncated mid-character) reaches the log with each
	// bad run replaced by U+FFFD, so log lines and JSON stay valid.
	text := string(msg)
	if !utf8.ValidString(text) {
		text = strings.ToValidUTF8(text, "\uFFFD")
	}
	if dropped > 0 {
		p.logger.Log(ctx, level, text, "export", exportName(cs.kind), "dropped_before", dropped)
		return
	}
	p.logger.Log(ctx, level, text, "export", exportName(cs.kind))
}

func exportName(k abi.CallKind) string {
	if h := abi.HookFor(k); h != nil {
		return h.Export
	}
	return abi.ExportOnInit // not reached: every call, _initialize's included, has a hook
}
