package wasmhost

import (
	"errors"
	"fmt"

	"github.com/tlsgate/tlsgate/abi"
)

// Sentinel errors callers branch on.
var (
	// ErrMiss is returned by Pool.Fetch when the guest reports that it has no
	// session for the identifier (the fetch export returned StatusNotFound).
	ErrMiss = errors.New("wasmhost: session not found")
	// ErrPoolClosed is returned by every Pool call made after Close.
	ErrPoolClosed = errors.New("wasmhost: pool closed")
	// ErrNoExport is returned by Pool.Fetch, Pool.Store or Pool.ClientHello when the module does
	// not export the corresponding hook.
	ErrNoExport = errors.New("wasmhost: module does not export this hook")
	// ErrInvalidModule is wrapped by every error of Runtime.Compile that is
	// caused by the module itself (malformed, wrong exports or imports).
	ErrInvalidModule = errors.New("wasmhost: invalid module")
	// ErrInputTooLarge is returned by Pool.Fetch, Pool.Store and NewPool when
	// an input is longer than abi.MaxInputLen (or abi.MaxSessionLen).
	ErrInputTooLarge = errors.New("wasmhost: input too large")
	// ErrInvalidInput: the caller asked for a call with an input outside the
	// ABI's domain (a session identifier that is empty or longer than
	// abi.MaxSessionIDLen, a store with no lifetime left); the guest is not
	// called.
	ErrInvalidInput = errors.New("wasmhost: input outside the ABI's domain")
)

// FaultKind classifies a GuestError. Its values double as the discard
// reasons reported to Observer.InstanceDiscarded.
type FaultKind string

// Fault kinds.
const (
	// FaultTrap: the guest trapped (unreachable, out-of-bounds access, stack
	// overflow, proc_exit...). The instance is discarded.
	FaultTrap FaultKind = "trap"
	// FaultTimeout: the call's deadline passed (or its context was cancelled)
	// before the export returned. The instance is discarded.
	FaultTimeout FaultKind = "timeout"
	// FaultMemory: the guest trapped with its memory at (or within
	// min(4 MiB, cap/16) of) its cap. The instance is discarded.
	FaultMemory FaultKind = "memory"
	// FaultMisuse: the guest passed an invalid memory range or handle to a
	// host function (StatusInvalidMemory, StatusBadHandle). The call fails
	// whatever the export returned, and the instance is discarded.
	FaultMisuse FaultKind = "misuse"
	// FaultStatus: the export returned a status that is neither success nor,
	// for a fetch, StatusNotFound; or a fetch returned StatusOK without
	// calling set_session. The instance is kept.
	FaultStatus FaultKind = "status"
	// FaultInit: instantiation, _initialize or tlsgate_on_init failed.
	FaultInit FaultKind = "init"
)

// GuestError reports a failed guest call. It unwraps to Err; for FaultTimeout
// errors.Is(err, context.DeadlineExceeded) (or context.Canceled) holds.
type GuestError struct {
	Tenant string     // the pool's tenant
	Module string     // the module's name
	Export string     // the export that ran, e.g. abi.ExportOnSessionFetch
	Kind   FaultKind  // what went wrong
	Status abi.Status // for FaultStatus (and FaultInit from on_init): the status returned
	Err    error      // the underlying cause
}

// Error implements error.
func (e *GuestError) Error() string {
	return fmt.Sprintf("wasmhost: tenant %q module %q export %q: %s: %v", e.Tenant, e.Module, e.Export, e.Kind, e.Err)
}

// Unwrap returns the underlying cause.
func (e *GuestError) Unwrap() error { return e.Err }

// invalidModuleError is the error of Compile for a module that breaks the
// ABI; it matches ErrInvalidModule with errors.Is.
type invalidModuleError struct {
	module string
	msg    string
	err    error // optional cause, e.g. wazero's compile error
}

func (e *invalidModuleError) Error() string {
	if e.err != nil {
		return fmt.Sprintf("wasmhost: module %q: %s: %v", e.module, e.msg, e.err)
	}
	return fmt.Sprintf("wasmhost: module %q: %s", e.module, e.msg)
}

func (e *invalidModuleError) Is(target error) bool { return target == ErrInvalidModule }
func (e *invalidModuleError) Unwrap() error        { return e.err }
