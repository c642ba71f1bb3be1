package wasmhost

import (
	"context"
	"fmt"
	"time"

	"github.com/tetratelabs/wazero/api"

	"github.com/tlsgate/tlsgate/abi"
)

// callStateKey is the context key under which host functions find the state
// of the export call they serve.
type callStateKey struct{}

// callState is the per-call state of one export call (or of an instance's
// initialisation). Each instance owns one and reuses it, since an instance
// runs one call at a time. It is the context.Context handed to wazero, so
// host functions reach it without an allocation per call.
type callState struct {
	context.Context // the call's deadline-bounded context; nil between calls

	pool *Pool
	inst *instance
	kind abi.CallKind

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

	// Outputs.
	session    []byte // set_session's copy; fetch only
	sessionSet bool
	misuse     error // first invalid memory range or handle, if any

	ops     []*kvOp // live handles of this call
	written int     // KV bytes this call has written (WithWriteBudget)
	// waited is how long the call spent blocked in await and await_any, and
	// busy (set when the call ends) the rest of its time: the guest's CPU,
	// near enough (WithCPUBudget).
	waited, busy time.Duration
}

// Value returns the callState itself for callStateKey.
func (cs *callState) Value(key any) any {
	if _, ok := key.(callStateKey); ok {
		return cs
	}
	return cs.Context.Value(key)
}

// reset clears the state before a call of the given kind.
func (cs *callState) reset(kind abi.CallKind) {
	p, inst, ops := cs.pool, cs.inst, cs.ops
	*cs = callState{pool: p, inst: inst, kind: kind, ops: ops[:0]}
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

// input implements abi.FuncInput.
func (cs *callState) input(mem api.Memory, kind abi.InputKind, buf uint32, limit int32) int32 {
	if limit < 0 {
		return abi.StatusBadArgument.Neg()
	}
	session := cs.kind == abi.CallFetch || cs.kind == abi.CallStore
	store := cs.kind == abi.CallStore
	var num uint64
	switch kind {
	case abi.InputTenant:
		return cs.writeOutString(mem, abi.FuncInput, buf, limit, cs.pool.tenant)
	case abi.InputGuestConfig:
		return cs.writeOut(mem, abi.FuncInput, buf, limit, cs.pool.guestConfig)
	case abi.InputCall:
		num = uint64(cs.kind)
	case abi.InputSessionID, abi.InputServerName, abi.InputALPN, abi.InputClientAddr, abi.InputTLSVersion, abi.InputMechanism:
		if !session {
			return abi.StatusNotFound.Neg()
		}
		switch kind {
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
		}
	case abi.InputSession, abi.InputTTL, abi.InputSessionCreated:
		if !store {
			return abi.StatusNotFound.Neg()
		}
		switch kind {
		case abi.InputSession:
			return cs.writeOut(mem, abi.FuncInput, buf, limit, cs.sealed)
		case abi.InputTTL:
			num = uint64(max(cs.ttl.Milliseconds(), 0))
		case abi.InputSessionCreated:
			num = uint64(max(cs.created.Unix(), 0)) // a zero time reads as 0
		}
	default:
		return abi.StatusBadArgument.Neg()
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
