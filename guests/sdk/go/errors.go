package guest

import (
	"errors"

	"github.com/tlsgate/tlsgate/abi"
)

// StatusError is the error of every SDK function: the ABI status a host
// function returned, and the operation that returned it.
//
// errors.Is(err, ErrNotFound) holds for any StatusError with
// abi.StatusNotFound, whatever its Op.
type StatusError struct {
	// Op names the SDK operation, e.g. "kv get" or "set_session".
	Op string
	// Status is the ABI status; never abi.StatusOK.
	Status abi.Status
}

// Error returns "guest: <op>: <STATUS>".
func (e *StatusError) Error() string {
	if e.Op == "" {
		return "guest: " + e.Status.String()
	}
	return "guest: " + e.Op + ": " + e.Status.String()
}

// Is reports whether target is a *StatusError with the same Status, so that
// the sentinels below match errors of any operation.
func (e *StatusError) Is(target error) bool {
	t, ok := target.(*StatusError)
	return ok && t.Status == e.Status
}

// Sentinels, one per ABI status a guest may meet. Compare with errors.Is.
var (
	// ErrNotFound: the key, input or session does not exist.
	ErrNotFound = &StatusError{Status: abi.StatusNotFound}
	// ErrBadArgument: an argument is out of its domain.
	ErrBadArgument = &StatusError{Status: abi.StatusBadArgument}
	// ErrInvalidMemory: a buffer fell outside guest memory.
	ErrInvalidMemory = &StatusError{Status: abi.StatusInvalidMemory}
	// ErrPending: the operation has not completed yet (Future.AwaitTimeout).
	ErrPending = &StatusError{Status: abi.StatusPending}
	// ErrTimeout: the export call's deadline passed while waiting.
	ErrTimeout = &StatusError{Status: abi.StatusTimeout}
	// ErrAccessDenied: the operation is not allowed to this guest.
	ErrAccessDenied = &StatusError{Status: abi.StatusAccessDenied}
	// ErrLimitExceeded: a size or count limit of package abi was exceeded.
	ErrLimitExceeded = &StatusError{Status: abi.StatusLimitExceeded}
	// ErrInternal: the host failed for a reason the guest cannot fix.
	ErrInternal = &StatusError{Status: abi.StatusInternal}
	// ErrUnimplemented: the host does not implement the function or input.
	ErrUnimplemented = &StatusError{Status: abi.StatusUnimplemented}
	// ErrUnavailable: the key-value store cannot be reached now.
	ErrUnavailable = &StatusError{Status: abi.StatusUnavailable}
	// ErrExists: Create found the key already present.
	ErrExists = &StatusError{Status: abi.StatusExists}
	// ErrBadHandle: the future was released or belongs to another call.
	ErrBadHandle = &StatusError{Status: abi.StatusBadHandle}
)

// StatusOf returns the status an export should return for err:
// abi.StatusOK for nil, the Status of a *StatusError in err's chain, and
// abi.StatusInternal for any other error.
func StatusOf(err error) abi.Status {
	if err == nil {
		return abi.StatusOK
	}
	var se *StatusError
	if errors.As(err, &se) {
		return se.Status
	}
	return abi.StatusInternal
}

// statusErr returns nil for abi.StatusOK and a *StatusError otherwise.
func statusErr(op string, s abi.Status) error {
	if s == abi.StatusOK {
		return nil
	}
	return &StatusError{Op: op, Status: s}
}
