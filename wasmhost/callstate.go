package wasmhost

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"
	"time"

	"github.com/tetratelabs/wazero/api"

	"github.com/tlsgate/tlsgate/abi"
)

// callStateKey is the context key under which host functions find the state
// of the export call they serve.
type callStateKey struct{}

// callState is the per-call state of one export call (or of an instance's
// initialisation). Each instance owns one and reuses it, since an instance
// runs one call at a time. Host functions reach it through the call's
// context (callCtx).
type callState struct {
	parent   context.Context // the caller's context; nil between calls
	deadline time.Time       // the call's: its timeout, or the parent's deadline if sooner

	pool *Pool
	inst *instance
	kind abi.CallKind
	hook *abi.Hook // the hook running (abi.HookFor(kind)); nil between calls

	// Inputs (fetch and store; zero for init).
	sessionID  []byte
	sealed     []byte // store only
	ttl        time.Duration
	created    time.Time
	serverName string
	alpn       string
	clientAddr string
	tlsVersion uint16
	mechanism  abi.Mechanism

	hello    *ClientHelloInput // client hello and certificate
	certs    []byte            // abi.InputCertificates, encoded; certificate only
	upstream string            // upstream session hooks only
	scratch  []byte            // an encoded list input, reused

	// Outputs.
	session    []byte // set_session's copy; fetch only
	sessionSet bool
	name       string // set_route's or set_certificate's (the one the hook sets)
	nameSet    bool
	misuse     error // first invalid memory range or handle, if any

	ops     []*kvOp // live handles of this call
	written int     // KV bytes this call has written (WithWriteBudget)
	// waited is how long the call spent blocked in await and await_any, and
	// busy (set when the call ends) the rest of its time: the guest's CPU,
	// near enough (WithCPUBudget).
	waited, busy time.Duration
}

// Stop codes of callCtx.stopped.
const (
	running int32 = iota
	stoppedDeadline
	stoppedCanceled
)

// callCtx is the context.Context of every call on one instance, handed to
// wazero and to the KV operations a call runs inline. It is made once per
// instance, so a call costs no context, timer or value allocation: the
// runtime's watchdog ends a call by closing its stop channel. wazero's
// goroutine watching a call may read it after the call ended, and a KV
// client may keep it, so it reads only fields that never change (cs,
// stopCh) or atomics; an instance whose call was stopped is discarded, so
// stopCh closes at most once.
type callCtx struct {
	cs       *callState
	stopCh   chan struct{}
	deadline atomic.Int64 // UnixNano of the running call's deadline
	stopped  atomic.Int32
	inCall   atomic.Bool // between begin and end: Value hands out cs only then
}

// Deadline returns the running call's deadline.
func (c *callCtx) Deadline() (time.Time, bool) { return time.Unix(0, c.deadline.Load()), true }

// Done is closed when the watchdog stops the call.
func (c *callCtx) Done() <-chan struct{} { return c.stopCh }

// Err says why the call was stopped, or nil.
func (c *callCtx) Err() error {
	switch c.stopped.Load() {
	case stoppedDeadline:
		return context.DeadlineExceeded
	case stoppedCanceled:
		return context.Canceled
	}
	return nil
}

// Value returns the callState for callStateKey while a call runs. A call's
// context carries no value of its caller's: nothing on the guest's path
// reads one, and the caller's context changes from call to call (so
// wazero options passed as context values do not reach guest calls).
func (c *callCtx) Value(key any) any {
	if _, ok := key.(callStateKey); ok && c.inCall.Load() {
		return c.cs
	}
	return nil
}

// stop ends the running call with err (the watchdog, under its lock, or
// begin for a parent already done).
func (cs *callState) stop(err error) {
	c := &cs.inst.ctx
	code := stoppedCanceled
	if errors.Is(err, context.DeadlineExceeded) {
		code = stoppedDeadline
	}
	// Err is set before Done closes: wazero reads Err once Done is closed.
	// At most once: an instance stopped is discarded, never run again.
	if c.stopped.CompareAndSwap(running, code) {
		close(c.stopCh)
	}
}

// begin starts a call of at most timeout under parent: the call's context,
// watched by the runtime's watchdog until end.
func (inst *instance) begin(parent context.Context, now time.Time, timeout time.Duration) context.Context {
	cs := &inst.cs
	deadline := now.Add(timeout)
	if d, ok := parent.Deadline(); ok && d.Before(deadline) {
		deadline = d
	}
	cs.parent, cs.deadline = parent, deadline
	inst.ctx.deadline.Store(deadline.UnixNano())
	inst.ctx.inCall.Store(true)
	switch err := parent.Err(); {
	case err != nil:
		cs.stop(err)
	case !now.Before(deadline):
		cs.stop(context.DeadlineExceeded)
	default:
		inst.rt.watch.enter(cs)
	}
	return &inst.ctx
}

// end stops watching the call that returned at now, and reports why it
// was stopped or is late: the instance must then be discarded. A call the
// watchdog had no tick to stop is still late if it returned past its
// deadline (an await_any woken by an operation that failed at that same
// deadline, say).
func (inst *instance) end(now time.Time) error {
	cs := &inst.cs
	inst.rt.watch.leave(cs)
	inst.ctx.inCall.Store(false)
	err := inst.ctx.Err()
	switch {
	case err != nil:
	case !now.Before(cs.deadline):
		err = context.DeadlineExceeded
	default:
		err = cs.parent.Err()
	}
	cs.parent = nil
	return err
}

// reset clears the state before a call of the given kind.
func (cs *callState) reset(kind abi.CallKind) {
	p, inst, ops := cs.pool, cs.inst, cs.ops
	scratch := cs.scratch[:0]
	if cap(scratch) > abi.MaxInputLen {
		scratch = nil // kept between calls only while small
	}
	*cs = callState{pool: p, inst: inst, kind: kind, hook: abi.HookFor(kind), ops: ops[:0], scratch: scratch}
}

// releaseAll cancels and forgets the call's live handles.
func (cs *callState) releaseAll() {
	for i, op := range cs.ops {
		cs.abandon(op)
		cs.ops[i] = nil
	}
	cs.ops = cs.ops[:0]
}

// markMisuse records the first ABI misuse of the call; the call fails and
// the instance is discarded.
func (cs *callState) markMisuse(err error) {
	if cs.misuse == nil {
		cs.misuse = err
	}
}

// read returns a view of guest memory [ptr, ptr+n), or marks misuse. The
// view is valid until the guest runs again: callers copy what they keep.
func (cs *callState) read(mem api.Memory, fn string, ptr uint32, n int32) ([]byte, bool) {
	b, ok := mem.Read(ptr, uint32(n))
	if !ok {
		cs.markMisuse(fmt.Errorf("%s: range [%#x, %#x+%d) outside guest memory of %d bytes", fn, ptr, ptr, n, mem.Size()))
	}
	return b, ok
}

// writeOut implements the (buf, limit) -> length convention for b.
func (cs *callState) writeOut(mem api.Memory, fn string, buf uint32, limit int32, b []byte) int32 {
	if limit < 0 {
		return abi.StatusBadArgument.Neg()
	}
	if len(b) > int(limit) {
		if _, ok := cs.read(mem, fn, buf, limit); !ok {
			return abi.StatusInvalidMemory.Neg()
		}
		return int32(len(b))
	}
	if !mem.Write(buf, b) {
		cs.read(mem, fn, buf, int32(len(b))) // records the misuse
		return abi.StatusInvalidMemory.Neg()
	}
	return int32(len(b))
}

// writeOutString is writeOut for a string, without converting it.
func (cs *callState) writeOutString(mem api.Memory, fn string, buf uint32, limit int32, s string) int32 {
	if limit < 0 {
		return abi.StatusBadArgument.Neg()
	}
	if len(s) > int(limit) {
		if _, ok := cs.read(mem, fn, buf, limit); !ok {
			return abi.StatusInvalidMemory.Neg()
		}
		return int32(len(s))
	}
	if !mem.WriteString(buf, s) {
		cs.read(mem, fn, buf, int32(len(s)))
		return abi.StatusInvalidMemory.Neg()
	}
	return int32(len(s))
}

// writeU16s writes a list input: each value as 2 bytes, little-endian.
func (cs *callState) writeU16s(mem api.Memory, buf uint32, limit int32, vs []uint16) int32 {
	b := cs.scratch[:0]
	for _, v := range vs {
		b = append(b, byte(v), byte(v>>8))
	}
	cs.scratch = b
	return cs.writeOut(mem, abi.FuncInput, buf, limit, b)
}

// input implements abi.FuncInput: what the running hook carries
// (abi.Hook.Inputs), -StatusNotFound for another input it knows.
func (cs *callState) input(mem api.Memory, kind abi.InputKind, buf uint32, limit int32) int32 {
	switch {
	case limit < 0 || !kind.Known():
		return abi.StatusBadArgument.Neg()
	case cs.hook == nil || !cs.hook.Carries(kind):
		return abi.StatusNotFound.Neg()
	}
	var num uint64
	switch kind {
	case abi.InputTenant:
		return cs.writeOutString(mem, abi.FuncInput, buf, limit, cs.pool.tenant)
	case abi.InputGuestConfig:
		return cs.writeOut(mem, abi.FuncInput, buf, limit, cs.pool.guestConfig)
	case abi.InputCall:
		num = uint64(cs.kind)
	case abi.InputSessionID:
		return cs.writeOut(mem, abi.FuncInput, buf, limit, cs.sessionID)
	case abi.InputServerName:
		return cs.writeOutString(mem, abi.FuncInput, buf, limit, cs.serverName)
	case abi.InputALPN:
		return cs.writeOutString(mem, abi.FuncInput, buf, limit, cs.alpn)
	case abi.InputClientAddr:
		return cs.writeOutString(mem, abi.FuncInput, buf, limit, cs.clientAddr)
	case abi.InputTLSVersion:
		num = uint64(cs.tlsVersion)
	case abi.InputMechanism:
		num = uint64(cs.mechanism)
	case abi.InputSession:
		return cs.writeOut(mem, abi.FuncInput, buf, limit, cs.sealed)
	case abi.InputTTL:
		num = ttlMillis(cs.ttl)
	case abi.InputSessionCreated:
		num = uint64(max(cs.created.Unix(), 0)) // a zero time reads as 0
	case abi.InputALPNOffered:
		b := cs.scratch[:0]
		for _, p := range cs.hello.ALPN {
			b = append(append(b, byte(len(p))), p...)
		}
		cs.scratch = b
		return cs.writeOut(mem, abi.FuncInput, buf, limit, b)
	case abi.InputSupportedVersions:
		return cs.writeU16s(mem, buf, limit, cs.hello.SupportedVersions)
	case abi.InputCipherSuites:
		return cs.writeU16s(mem, buf, limit, cs.hello.CipherSuites)
	case abi.InputSupportedGroups:
		return cs.writeU16s(mem, buf, limit, cs.hello.SupportedGroups)
	case abi.InputSignatureSchemes:
		return cs.writeU16s(mem, buf, limit, cs.hello.SignatureSchemes)
	case abi.InputExtensions:
		return cs.writeU16s(mem, buf, limit, cs.hello.Extensions)
	case abi.InputJA4:
		return cs.writeOutString(mem, abi.FuncInput, buf, limit, cs.hello.JA4)
	case abi.InputCertificates:
		return cs.writeOut(mem, abi.FuncInput, buf, limit, cs.certs)
	case abi.InputUpstream:
		return cs.writeOutString(mem, abi.FuncInput, buf, limit, cs.upstream)
	default: // Known and carried, yet not answered above: a host bug
		return abi.StatusInternal.Neg()
	}
	if limit < 8 {
		if _, ok := cs.read(mem, abi.FuncInput, buf, limit); !ok {
			return abi.StatusInvalidMemory.Neg()
		}
		return 8
	}
	if !mem.WriteUint64Le(buf, num) {
		cs.read(mem, abi.FuncInput, buf, 8)
		return abi.StatusInvalidMemory.Neg()
	}
	return 8
}
