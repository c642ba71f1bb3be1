package wasmhost

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/tetratelabs/wazero/api"

	"github.com/tlsgate/tlsgate/abi"
)

// instance is one instantiated guest. It runs one call at a time; the pool
// guarantees that by handing it to one caller from checkout to return.
type instance struct {
	mod        api.Module
	mem        api.Memory
	fns        [len(abi.Hooks)]api.Function // the hooks it exports, by CallKind
	stack      [1]uint64
	cs         callState
	wake       chan struct{} // a KV operation completed (await_any)
	ctx        callCtx       // the context of its calls
	nextHandle int32
	lastUsed   time.Time // when it was last returned to the idle stack
	idleUntil  time.Time // idle in a share: when the reaper may close it
	accounted  int64     // bytes of memory counted in the runtime's budget
	counted    bool      // counted in the runtime's instance budget
	rt         *Runtime
	lru        idleLink // in the runtime's idleLRU while idle
}

// memoryNearCapBytes: a trap with memory within min(4 MiB, cap/16) of its
// cap is reported as FaultMemory rather than FaultTrap (allocators grow in
// chunks, so the failing request rarely lands exactly on the cap).
const memoryNearCapBytes = 4 << 20

// newInstance instantiates the pool's module (running _initialize) and calls
// tlsgate_on_init when exported, under p.initTimeout.
// memoryFull reports whether the instance's memory has grown to the
// runtime's limit.
func (inst *instance) memoryFull() bool {
	if inst.mod == nil || inst.cs.pool == nil {
		return false
	}
	mem := inst.mod.Memory()
	return mem != nil && uint64(mem.Size()) >= uint64(inst.cs.pool.m.rt.memLimit)*65536
}

func (p *Pool) newInstance(ctx context.Context) (*instance, error) {
	if err := ctx.Err(); err != nil { // the caller gave up: nothing to start
		return nil, fmt.Errorf("wasmhost: tenant %q module %q: instantiate: %w", p.tenant, p.m.name, err)
	}
	inst := &instance{wake: make(chan struct{}, 1), rt: p.m.rt}
	inst.ctx.cs, inst.ctx.stopCh = &inst.cs, make(chan struct{})
	cs := &inst.cs
	cs.pool, cs.inst = p, inst
	cs.reset(abi.CallInit)

	callCtx := inst.begin(ctx, time.Now(), p.initTimeout)
	mod, err := p.m.rt.rt.InstantiateModule(callCtx, p.m.compiled, p.m.cfg)
	cs.releaseAll()
	misuse := cs.misuse
	ctxErr := inst.end(time.Now())
	fail := func(export string, status abi.Status, err error) (*instance, error) {
		if mod != nil {
			_ = mod.Close(context.Background())
		}
		p.m.rt.mem.give(inst, 0) // nothing, unless it was accounted
		p.obs.InstanceDiscarded(p.tenant, string(FaultInit))
		return nil, &GuestError{Tenant: p.tenant, Module: p.m.name, Export: export, Kind: FaultInit, Status: status, Err: err}
	}
	switch {
	case ctxErr != nil && ctx.Err() != nil:
		// The caller gave up meanwhile. The instance's context is stopped
		// for good (see callCtx), so it cannot serve, whether or not
		// instantiation got to the end; it was not the guest's doing.
		if mod != nil {
			_ = mod.Close(context.Background())
		}
		p.m.rt.mem.give(inst, 0)
		return nil, fmt.Errorf("wasmhost: tenant %q module %q: instantiate: %w", p.tenant, p.m.name, ctx.Err())
	case ctxErr != nil && err != nil:
		return fail(abi.ExportInitialize, 0, fmt.Errorf("instantiate: %w: %w", ctxErr, err))
	case ctxErr != nil: // instantiated, but past the init timeout: stopped, so unusable
		return fail(abi.ExportInitialize, 0, fmt.Errorf("instantiate: returned after the deadline: %w", ctxErr))
	case err != nil:
		return fail(abi.ExportInitialize, 0, fmt.Errorf("instantiate: %w", err))
	case misuse != nil:
		return fail(abi.ExportInitialize, 0, misuse)
	}
	inst.mod = mod
	inst.mem = mod.Memory()
	if !p.takeMemory(inst) {
		_ = mod.Close(context.Background())
		return nil, fmt.Errorf("wasmhost: tenant %q module %q: %w", p.tenant, p.m.name, ErrMemoryBudget)
	}
	for i := range abi.Hooks {
		if p.m.hooks[i] {
			inst.fns[i] = mod.ExportedFunction(abi.Hooks[i].Export)
		}
	}
	if p.m.Has(abi.CallInit) {
		cs.reset(abi.CallInit)
		status, gerr := inst.run(ctx, p, inst.fns[abi.CallInit], abi.ExportOnInit, p.initTimeout)
		switch {
		case gerr != nil:
			return fail(abi.ExportOnInit, gerr.Status, gerr)
		case status != abi.StatusOK:
			return fail(abi.ExportOnInit, status, fmt.Errorf("returned %v", status))
		}
	}
	p.obs.InstanceCreated(p.tenant)
	return inst, nil
}

// takeMemory accounts a new instance in the runtime's budget, evicting
// instances idle longest (of any pool) to make room; false: every instance
// is busy and the budget is used up.
func (p *Pool) takeMemory(inst *instance) bool {
	size := int64(inst.mem.Size())
	for {
		if p.m.rt.mem.take(inst, size) {
			return true
		}
		if !p.m.rt.roomAfterEviction(size) || !p.m.rt.evictIdle() {
			return false
		}
	}
}

// run calls a () -> i32 export with the call state already reset and filled
// by the caller. It returns the export's status, or a GuestError when the
// call failed; the instance must be discarded unless gerr is nil or of Kind
// FaultStatus (run itself never returns FaultStatus).
func (inst *instance) run(ctx context.Context, p *Pool, fn api.Function, export string, timeout time.Duration) (abi.Status, *GuestError) {
	cs := &inst.cs
	inst.stack[0] = 0
	started := time.Now()
	err := fn.CallWithStack(inst.begin(ctx, started, timeout), inst.stack[:])
	now := time.Now()
	cs.busy = max(now.Sub(started)-cs.waited, 0)
	cs.releaseAll()
	ctxErr := inst.end(now)
	gerr := func(kind FaultKind, err error) *GuestError {
		return &GuestError{Tenant: p.tenant, Module: p.m.name, Export: export, Kind: kind, Err: err}
	}
	switch {
	case ctxErr != nil && err != nil:
		return 0, gerr(FaultTimeout, fmt.Errorf("%w: %w", ctxErr, err))
	case ctxErr != nil:
		// The guest returned, but only after the deadline (an await that
		// ended with StatusTimeout, say): the result is late, and wazero's
		// watcher may be closing the module right now, so the instance
		// cannot be trusted either.
		return 0, gerr(FaultTimeout, fmt.Errorf("%w: returned after the deadline", ctxErr))
	case cs.misuse != nil && err != nil:
		return 0, gerr(FaultMisuse, errors.Join(cs.misuse, err))
	case cs.misuse != nil:
		return 0, gerr(FaultMisuse, cs.misuse)
	case err != nil && inst.nearMemoryCap(p.m.maxPages):
		return 0, gerr(FaultMemory, fmt.Errorf("memory at %d of %d bytes: %w", inst.mem.Size(), uint64(p.m.maxPages)<<16, err))
	case err != nil:
		return 0, gerr(FaultTrap, err)
	}
	return abi.Status(uint32(inst.stack[0])), nil
}

func (inst *instance) nearMemoryCap(maxPages uint32) bool {
	capBytes := uint64(maxPages) << 16
	return uint64(inst.mem.Size())+min(memoryNearCapBytes, capBytes/16) >= capBytes
}

// close closes an instance that is not running a call, and gives its
// memory back to the runtime's budget.
func (inst *instance) close() {
	size := int64(inst.mem.Size()) // what it grew to, accounted or not
	_ = inst.mod.Close(context.Background())
	inst.rt.mem.give(inst, size)
}

// cut closes an instance while a call may be running on it (the call then
// fails, and its release discards the instance, through close).
func (inst *instance) cut() {
	_ = inst.mod.Close(context.Background())
}
