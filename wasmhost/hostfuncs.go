package wasmhost

import (
	"bytes"
	"context"
	"log/slog"

	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/api"

	"github.com/tlsgate/tlsgate/abi"
)

const (
	i32 = api.ValueTypeI32
	i64 = api.ValueTypeI64
)

// hostFunc is one function of the "tlsgate" host module. fn reads its
// parameters from stack and writes its one i32 result to stack[0].
type hostFunc struct {
	name    string
	params  []api.ValueType
	results []api.ValueType
	fn      func(cs *callState, mem api.Memory, stack []uint64)
}

// hostFuncs is the ABI 1.1 host module, in the order of abi/hostfuncs.go.
var hostFuncs = []hostFunc{
	{abi.FuncInput, []api.ValueType{i32, i32, i32}, []api.ValueType{i32}, hostInput},
	{abi.FuncSetSession, []api.ValueType{i32, i32}, []api.ValueType{i32}, hostSetSession},
	{abi.FuncLog, []api.ValueType{i32, i32, i32}, []api.ValueType{i32}, hostLog},
	{abi.FuncKVGet, []api.ValueType{i32, i32}, []api.ValueType{i32}, hostKVGet},
	{abi.FuncKVPut, []api.ValueType{i32, i32, i32, i32, i64}, []api.ValueType{i32}, hostKVPut},
	{abi.FuncKVCreate, []api.ValueType{i32, i32, i32, i32, i64}, []api.ValueType{i32}, hostKVCreate},
	{abi.FuncKVDelete, []api.ValueType{i32, i32}, []api.ValueType{i32}, hostKVDelete},
	{abi.FuncAwait, []api.ValueType{i32, i32}, []api.ValueType{i32}, hostAwait},
	{abi.FuncAwaitAny, []api.ValueType{i32, i32, i32}, []api.ValueType{i32}, hostAwaitAny},
	{abi.FuncPoll, []api.ValueType{i32}, []api.ValueType{i32}, hostPoll},
	{abi.FuncResult, []api.ValueType{i32, i32, i32}, []api.ValueType{i32}, hostResult},
	{abi.FuncRelease, []api.ValueType{i32}, []api.ValueType{i32}, hostRelease},
	{abi.FuncSetRoute, []api.ValueType{i32, i32}, []api.ValueType{i32}, hostSetRoute},
	{abi.FuncSetCertificate, []api.ValueType{i32, i32}, []api.ValueType{i32}, hostSetCertificate},
}

// hostFuncSigs maps each host function name to its Wasm signature; Compile
// checks guest imports against it.
var hostFuncSigs = func() map[string]funcSig {
	m := make(map[string]funcSig, len(hostFuncs))
	for _, f := range hostFuncs {
		m[f.name] = funcSig{params: f.params, results: f.results}
	}
	return m
}()

// instantiateHostModule defines module "tlsgate" in r. Host functions find
// the call they serve through their context (callStateKey); a call without
// one (never made by this package) gets StatusInternal.
func instantiateHostModule(ctx context.Context, r wazero.Runtime) error {
	b := r.NewHostModuleBuilder(abi.HostModule)
	for _, f := range hostFuncs {
		fn := f.fn
		b.NewFunctionBuilder().
			WithGoModuleFunction(api.GoModuleFunc(func(ctx context.Context, mod api.Module, stack []uint64) {
				cs, ok := ctx.Value(callStateKey{}).(*callState)
				if !ok || cs.pool == nil {
					stack[0] = api.EncodeI32(abi.StatusInternal.Neg())
					return
				}
				fn(cs, mod.Memory(), stack)
			}), f.params, f.results).
			Export(f.name)
	}
	_, err := b.Instantiate(ctx)
	return err
}

func argI32(stack []uint64, i int) int32  { return api.DecodeI32(stack[i]) }
func argPtr(stack []uint64, i int) uint32 { return api.DecodeU32(stack[i]) }
func setI32(stack []uint64, v int32)      { stack[0] = api.EncodeI32(v) }
func setStatus(stack []uint64, s abi.Status) {
	stack[0] = api.EncodeU32(uint32(s))
}

// hostInput implements abi.FuncInput.
func hostInput(cs *callState, mem api.Memory, stack []uint64) {
	setI32(stack, cs.input(mem, abi.InputKind(argPtr(stack, 0)), argPtr(stack, 1), argI32(stack, 2)))
}

// readOutput reads what an output host function (fn: set_session,
// set_route) hands back, its (ptr, len) arguments in stack: BAD_ARGUMENT
// unless the running hook sets fn and len is at least least,
// LIMIT_EXCEEDED past most, INVALID_MEMORY outside memory. ok false: the
// status is set and nothing is to be kept.
func readOutput(cs *callState, mem api.Memory, stack []uint64, fn string, least, most int32) (b []byte, ok bool) {
	ptr, n := argPtr(stack, 0), argI32(stack, 1)
	switch {
	case cs.hook == nil || !cs.hook.Sets(fn) || n < least:
		setStatus(stack, abi.StatusBadArgument)
		return nil, false
	case n > most:
		setStatus(stack, abi.StatusLimitExceeded)
		return nil, false
	}
	if b, ok = cs.read(mem, fn, ptr, n); !ok {
		setStatus(stack, abi.StatusInvalidMemory)
		return nil, false
	}
	setStatus(stack, abi.StatusOK)
	return b, true
}

// hostSetRoute implements abi.FuncSetRoute. The name is copied.
func hostSetRoute(cs *callState, mem api.Memory, stack []uint64) {
	if b, ok := readOutput(cs, mem, stack, abi.FuncSetRoute, 1, abi.MaxTenantNameLen); ok {
		cs.name, cs.nameSet = string(b), true
	}
}

// hostSetCertificate implements abi.FuncSetCertificate. The name is
// copied, to the field set_route uses: no hook sets both.
func hostSetCertificate(cs *callState, mem api.Memory, stack []uint64) {
	if b, ok := readOutput(cs, mem, stack, abi.FuncSetCertificate, 1, abi.MaxCertificateNameLen); ok {
		cs.name, cs.nameSet = string(b), true
	}
}

// hostSetSession implements abi.FuncSetSession. The bytes are copied.
func hostSetSession(cs *callState, mem api.Memory, stack []uint64) {
	if b, ok := readOutput(cs, mem, stack, abi.FuncSetSession, 0, abi.MaxSessionLen); ok {
		cs.session = bytes.Clone(b)
		if cs.session == nil {
			cs.session = []byte{}
		}
		cs.sessionSet = true
	}
}

var logLevels = [...]slog.Level{
	abi.LogDebug: slog.LevelDebug, abi.LogInfo: slog.LevelInfo,
	abi.LogWarn: slog.LevelWarn, abi.LogError: slog.LevelError,
}

// hostLog implements abi.FuncLog: messages go to the pool's logger (attrs
// tenant and module), truncated to abi.MaxLogLen, rate-limited per pool.
// Only the first abi.MaxLogLen bytes of the range are bounds-checked.
func hostLog(cs *callState, mem api.Memory, stack []uint64) {
	level, ptr, n := argI32(stack, 0), argPtr(stack, 1), argI32(stack, 2)
	if level < 0 || int(level) >= len(logLevels) || n < 0 {
		setStatus(stack, abi.StatusBadArgument)
		return
	}
	n = min(n, abi.MaxLogLen)
	b, ok := cs.read(mem, abi.FuncLog, ptr, n)
	if !ok {
		setStatus(stack, abi.StatusInvalidMemory)
		return
	}
	cs.pool.guestLog(cs, logLevels[level], b)
	setStatus(stack, abi.StatusOK)
}
