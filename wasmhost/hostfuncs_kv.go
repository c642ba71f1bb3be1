package wasmhost

import (
	"bytes"
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"math"
	"time"

	"github.com/tetratelabs/wazero/api"

	"github.com/tlsgate/tlsgate/abi"
)

// kvOp is one asynchronous key-value operation behind a handle. status and
// value are written once, before done is closed.
//
// An operation starts at the guest's first wait point, not at kv_*: a
// blocking await(h, -1) runs h inline on the calling goroutine (after
// launching every other pending operation of the call, so they still run
// concurrently), sparing a goroutine and a hand-off per operation; any
// other wait point (a bounded await, await_any, poll, result) launches
// every pending operation. What the guest sees is unchanged: an operation
// that is never awaited may or may not happen.
type kvOp struct {
	handle int32
	kind   kvKind
	do     func(ctx context.Context, kv KV) ([]byte, error) // nil once started
	done   chan struct{}
	cancel context.CancelFunc // set when launched on a goroutine
	status abi.Status
	value  []byte
}

func (op *kvOp) completed() bool {
	select {
	case <-op.done:
		return true
	default:
		return false
	}
}

// encodeKey maps a guest's binary key to the KV key: base64url without
// padding ("-" and "_" for "+" and "/"), valid as a NATS KV key and unable to
// contain "." or wildcards, so a guest cannot leave its namespace.
func encodeKey(b []byte) string {
	// Encoded on the stack, so the key costs one allocation (the string),
	// not two; readKey bounds b by abi.MaxKeyLen.
	var buf [(abi.MaxKeyLen*4 + 2) / 3]byte
	return string(base64.RawURLEncoding.AppendEncode(buf[:0], b))
}

// kvStatus maps a KV error to the completion status the guest sees.
func kvStatus(err error) abi.Status {
	switch {
	case err == nil:
		return abi.StatusOK
	case errors.Is(err, ErrKeyNotFound):
		return abi.StatusNotFound
	case errors.Is(err, ErrKeyExists):
		return abi.StatusExists
	case errors.Is(err, ErrUnavailable):
		return abi.StatusUnavailable
	case errors.Is(err, ErrLimitExceeded):
		return abi.StatusLimitExceeded
	case errors.Is(err, context.DeadlineExceeded), errors.Is(err, context.Canceled):
		return abi.StatusTimeout
	}
	return abi.StatusInternal
}

// kvKind names an operation for Observer.KVOp.
type kvKind string

const (
	kvGet    kvKind = "get"
	kvPut    kvKind = "put"
	kvCreate kvKind = "create"
	kvDelete kvKind = "delete"
)

// readKey validates and copies a key argument; it returns the encoded key
// or a status to return negated.
func (cs *callState) readKey(mem api.Memory, fn string, ptr uint32, n int32) (string, abi.Status) {
	switch {
	case cs.hook == nil || !cs.hook.KV:
		return "", abi.StatusAccessDenied
	case n <= 0:
		return "", abi.StatusBadArgument
	case n > abi.MaxKeyLen:
		return "", abi.StatusLimitExceeded
	}
	b, ok := cs.read(mem, fn, ptr, n)
	if !ok {
		return "", abi.StatusInvalidMemory
	}
	return encodeKey(b), abi.StatusOK
}

// start registers a new handle for an operation that runs at the call's
// next wait point (see kvOp), under a context that ends with the call (or
// when the handle is released).
func (cs *callState) start(kind kvKind, do func(ctx context.Context, kv KV) ([]byte, error)) int32 {
	op := cs.newOp(kind)
	if op == nil {
		return abi.StatusLimitExceeded.Neg()
	}
	if cs.pool.kv == nil {
		cs.completeNow(op, abi.StatusUnavailable, ErrUnavailable)
		return op.handle
	}
	op.do = do
	return op.handle
}

// newOp registers a new handle, or returns nil when the call holds
// abi.MaxHandles already.
func (cs *callState) newOp(kind kvKind) *kvOp {
	if len(cs.ops) >= abi.MaxHandles {
		return nil
	}
	inst := cs.inst
	inst.nextHandle++
	if inst.nextHandle <= 0 {
		inst.nextHandle = 1
	}
	op := &kvOp{handle: inst.nextHandle, kind: kind, done: make(chan struct{})}
	cs.ops = append(cs.ops, op)
	return op
}

// completeNow completes op without running anything, and reports err.
func (cs *callState) completeNow(op *kvOp, st abi.Status, err error) {
	op.status = st
	close(op.done)
	cs.pool.obs.KVOp(cs.pool.tenant, string(op.kind), 0, err)
}

// noteWait adds the time since start to the call's waiting time.
func (cs *callState) noteWait(start time.Time) { cs.waited += time.Since(start) }

// spend takes n bytes from the call's and the pool's write budgets, or
// reports that either would be exceeded (taking nothing).
func (cs *callState) spend(n int) bool {
	p := cs.pool
	if p.writeCall > 0 && cs.written+n > p.writeCall {
		return false
	}
	if p.writeRate != nil && !p.writeRate.AllowN(time.Now(), n) {
		return false
	}
	cs.written += n
	return true
}

// refuse is start for a write the budget does not allow: a handle the guest
// awaits like any other, already completed with StatusLimitExceeded.
func (cs *callState) refuse(kind kvKind) int32 {
	op := cs.newOp(kind)
	if op == nil {
		return abi.StatusLimitExceeded.Neg()
	}
	cs.completeNow(op, abi.StatusLimitExceeded, ErrLimitExceeded)
	return op.handle
}

// runOp runs a started operation under ctx and completes it. It may run on
// a goroutine that outlives the call, so it gets what it needs as arguments
// and never touches the (reused) callState.
func runOp(ctx context.Context, p *Pool, wake chan struct{}, op *kvOp, do func(ctx context.Context, kv KV) ([]byte, error)) {
	t0 := time.Now()
	v, err := do(ctx, p.kv)
	op.value, op.status = v, kvStatus(err)
	close(op.done)
	select {
	case wake <- struct{}{}:
	default:
	}
	p.obs.KVOp(p.tenant, string(op.kind), time.Since(t0), err)
}

// launch starts op on a goroutine of its own, if it has not started.
func (cs *callState) launch(op *kvOp) {
	if op.do == nil {
		return
	}
	do := op.do
	op.do = nil
	// Its own context: the goroutine may outlive the call (release cancels it).
	ctx, cancel := context.WithDeadline(cs.parent, cs.deadline)
	op.cancel = cancel
	p, wake := cs.pool, cs.inst.wake
	p.ops.Add(1)
	go func() {
		defer p.ops.Done()
		defer cancel()
		runOp(ctx, p, wake, op, do)
	}()
}

// launchAll starts every pending operation of the call except skip.
func (cs *callState) launchAll(skip *kvOp) {
	for _, op := range cs.ops {
		if op != skip {
			cs.launch(op)
		}
	}
}

// runInline runs op, if it has not started, on the calling goroutine.
func (cs *callState) runInline(op *kvOp) {
	if op.do == nil {
		return
	}
	do := op.do
	op.do = nil
	runOp(&cs.inst.ctx, cs.pool, cs.inst.wake, op, do)
}

// abandon cancels op, or, if it never started, reports it abandoned.
func (cs *callState) abandon(op *kvOp) {
	switch {
	case op.do != nil:
		op.do = nil
		cs.pool.obs.KVOp(cs.pool.tenant, string(op.kind), 0, context.Canceled)
	case op.cancel != nil:
		op.cancel()
	}
}

// lookup finds a live handle of this call, or marks misuse.
func (cs *callState) lookup(fn string, h int32) (int, *kvOp) {
	for i, op := range cs.ops {
		if op.handle == h {
			return i, op
		}
	}
	cs.markMisuse(fmt.Errorf("%s: handle %d is not live in this call", fn, h))
	return -1, nil
}

func hostKVGet(cs *callState, mem api.Memory, stack []uint64) {
	key, st := cs.readKey(mem, abi.FuncKVGet, argPtr(stack, 0), argI32(stack, 1))
	if st != abi.StatusOK {
		setI32(stack, st.Neg())
		return
	}
	setI32(stack, cs.start(kvGet, func(ctx context.Context, kv KV) ([]byte, error) {
		return kv.Get(ctx, key)
	}))
}

func hostKVDelete(cs *callState, mem api.Memory, stack []uint64) {
	key, st := cs.readKey(mem, abi.FuncKVDelete, argPtr(stack, 0), argI32(stack, 1))
	if st != abi.StatusOK {
		setI32(stack, st.Neg())
		return
	}
	setI32(stack, cs.start(kvDelete, func(ctx context.Context, kv KV) ([]byte, error) {
		return nil, kv.Delete(ctx, key)
	}))
}

func hostKVPut(cs *callState, mem api.Memory, stack []uint64) {
	kvWrite(cs, mem, stack, abi.FuncKVPut, kvPut)
}

func hostKVCreate(cs *callState, mem api.Memory, stack []uint64) {
	kvWrite(cs, mem, stack, abi.FuncKVCreate, kvCreate)
}

// kvWrite implements kv_put and kv_create: (key ptr, key len, value ptr,
// value len, ttl_ms i64).
func kvWrite(cs *callState, mem api.Memory, stack []uint64, fn string, kind kvKind) {
	vptr, vlen, ttlMS := argPtr(stack, 2), argI32(stack, 3), int64(stack[4])
	switch {
	case vlen < 0 || ttlMS < 0:
		setI32(stack, abi.StatusBadArgument.Neg())
		return
	case vlen > abi.MaxValueLen:
		setI32(stack, abi.StatusLimitExceeded.Neg())
		return
	}
	key, st := cs.readKey(mem, fn, argPtr(stack, 0), argI32(stack, 1))
	if st != abi.StatusOK {
		setI32(stack, st.Neg())
		return
	}
	v, ok := cs.read(mem, fn, vptr, vlen)
	if !ok {
		setI32(stack, abi.StatusInvalidMemory.Neg())
		return
	}
	if !cs.spend(int(argI32(stack, 1)) + int(vlen)) {
		setI32(stack, cs.refuse(kind))
		return
	}
	value := bytes.Clone(v)
	if value == nil {
		value = []byte{}
	}
	ttl := time.Duration(min(ttlMS, math.MaxInt64/int64(time.Millisecond))) * time.Millisecond
	if kind == kvCreate {
		setI32(stack, cs.start(kind, func(ctx context.Context, kv KV) ([]byte, error) {
			return nil, kv.Create(ctx, key, value, ttl)
		}))
		return
	}
	setI32(stack, cs.start(kind, func(ctx context.Context, kv KV) ([]byte, error) {
		return nil, kv.Put(ctx, key, value, ttl)
	}))
}

// hostAwait implements abi.FuncAwait.
func hostAwait(cs *callState, _ api.Memory, stack []uint64) {
	defer cs.noteWait(time.Now())
	h, timeoutMS := argI32(stack, 0), argI32(stack, 1)
	_, op := cs.lookup(abi.FuncAwait, h)
	if op == nil {
		setStatus(stack, abi.StatusBadHandle)
		return
	}
	if timeoutMS < 0 {
		// Waiting as long as the call lasts: the others start, and this
		// one runs right here.
		cs.launchAll(op)
		cs.runInline(op)
	} else {
		cs.launchAll(nil)
	}
	if op.completed() {
		setStatus(stack, op.status)
		return
	}
	if timeoutMS == 0 {
		setStatus(stack, abi.StatusPending)
		return
	}
	var timeout <-chan time.Time
	if timeoutMS > 0 {
		t := time.NewTimer(time.Duration(timeoutMS) * time.Millisecond)
		defer t.Stop()
		timeout = t.C
	}
	select {
	case <-op.done:
		setStatus(stack, op.status)
	case <-timeout:
		setStatus(stack, abi.StatusPending)
	case <-cs.inst.ctx.Done():
		setStatus(stack, abi.StatusTimeout)
	}
}

// hostAwaitAny implements abi.FuncAwaitAny. n < 1 is StatusBadArgument,
// n > abi.MaxHandles StatusLimitExceeded.
func hostAwaitAny(cs *callState, mem api.Memory, stack []uint64) {
	defer cs.noteWait(time.Now())
	ptr, n, timeoutMS := argPtr(stack, 0), argI32(stack, 1), argI32(stack, 2)
	switch {
	case n < 1:
		setI32(stack, abi.StatusBadArgument.Neg())
		return
	case n > abi.MaxHandles:
		setI32(stack, abi.StatusLimitExceeded.Neg())
		return
	}
	raw, ok := cs.read(mem, abi.FuncAwaitAny, ptr, 4*n)
	if !ok {
		setI32(stack, abi.StatusInvalidMemory.Neg())
		return
	}
	var buf [abi.MaxHandles]*kvOp
	ops := buf[:n]
	for i := range ops {
		h := int32(uint32(raw[4*i]) | uint32(raw[4*i+1])<<8 | uint32(raw[4*i+2])<<16 | uint32(raw[4*i+3])<<24)
		if _, ops[i] = cs.lookup(abi.FuncAwaitAny, h); ops[i] == nil {
			setI32(stack, abi.StatusBadHandle.Neg())
			return
		}
	}
	cs.launchAll(nil)
	var timeout <-chan time.Time
	if timeoutMS > 0 {
		t := time.NewTimer(time.Duration(timeoutMS) * time.Millisecond)
		defer t.Stop()
		timeout = t.C
	}
	wake := cs.inst.wake
	// Bounded: each wake-up is one completed operation (of this or an
	// earlier call), or the timeout or deadline, which return.
	for {
		for i, op := range ops {
			if op.completed() {
				setI32(stack, int32(i))
				return
			}
		}
		if timeoutMS == 0 {
			setI32(stack, abi.StatusPending.Neg())
			return
		}
		select {
		case <-wake:
		case <-timeout:
			setI32(stack, abi.StatusPending.Neg())
			return
		case <-cs.inst.ctx.Done():
			setI32(stack, abi.StatusTimeout.Neg())
			return
		}
	}
}

// hostPoll implements abi.FuncPoll.
func hostPoll(cs *callState, _ api.Memory, stack []uint64) {
	_, op := cs.lookup(abi.FuncPoll, argI32(stack, 0))
	if op == nil { // misuse: the call fails, so nothing more starts
		setStatus(stack, abi.StatusBadHandle)
		return
	}
	cs.launchAll(nil)
	switch {
	case op.completed():
		setStatus(stack, op.status)
	default:
		setStatus(stack, abi.StatusPending)
	}
}

// hostResult implements abi.FuncResult.
func hostResult(cs *callState, mem api.Memory, stack []uint64) {
	h, buf, limit := argI32(stack, 0), argPtr(stack, 1), argI32(stack, 2)
	_, op := cs.lookup(abi.FuncResult, h)
	switch {
	case op == nil:
		setI32(stack, abi.StatusBadHandle.Neg())
		return
	case limit < 0:
		setI32(stack, abi.StatusBadArgument.Neg())
		return
	}
	cs.launchAll(nil)
	switch {
	case !op.completed():
		setI32(stack, abi.StatusPending.Neg())
	case op.status != abi.StatusOK:
		setI32(stack, op.status.Neg())
	case op.kind == kvGet:
		setI32(stack, cs.writeOut(mem, abi.FuncResult, buf, limit, op.value))
	default:
		setI32(stack, 0)
	}
}

// hostRelease implements abi.FuncRelease.
func hostRelease(cs *callState, _ api.Memory, stack []uint64) {
	i, op := cs.lookup(abi.FuncRelease, argI32(stack, 0))
	if op == nil {
		setStatus(stack, abi.StatusBadHandle)
		return
	}
	cs.abandon(op)
	last := len(cs.ops) - 1
	cs.ops[i], cs.ops[last] = cs.ops[last], nil
	cs.ops = cs.ops[:last]
	setStatus(stack, abi.StatusOK)
}
