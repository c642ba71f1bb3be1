package wasmhost

import "time"

// Observer receives a Pool's events, typically to export metrics. All
// methods must be cheap and safe for concurrent use; they are called on the
// hot path (CallDone, KVOp) or under no lock (instance events).
type Observer interface {
	// CallDone reports one hook call (Fetch, Store, ClientHello) that its
	// caller had not given up on before it began: the export name, its duration
	// (instance checkout included) and its error (nil, ErrMiss, a
	// *GuestError, ErrPoolClosed, a context error...).
	CallDone(tenant, export string, d time.Duration, err error)
	// InstanceCreated reports a new guest instance.
	InstanceCreated(tenant string)
	// InstanceDiscarded reports a closed instance and why: "trap",
	// "timeout", "memory", "misuse", "idle", "closed" or "init".
	InstanceDiscarded(tenant string, reason string)
	// KVOp reports one key-value operation ("get", "put", "create",
	// "delete") with its duration and error (nil on success). An operation
	// released or left pending before it started is reported with d == 0
	// and context.Canceled; with no KV configured, each operation is
	// reported at once with ErrUnavailable.
	KVOp(tenant, op string, d time.Duration, err error)
	// GuestSuspended reports that the tenant's guest faulted on several
	// calls in a row and is suspended for d (see WithFaultSuspension).
	GuestSuspended(tenant string, d time.Duration)
}

type nopObserver struct{}

func (nopObserver) CallDone(string, string, time.Duration, error) {}
func (nopObserver) InstanceCreated(string)                        {}
func (nopObserver) InstanceDiscarded(string, string)              {}
func (nopObserver) KVOp(string, string, time.Duration, error)     {}
func (nopObserver) GuestSuspended(string, time.Duration)          {}
