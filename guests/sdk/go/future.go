package guest

import (
	"time"
	"unsafe"

	"github.com/tlsgate/tlsgate/abi"
)

// Future is a key-value operation started by one of the Store's Async
// methods. It belongs to the export call that started it and to one
// goroutine. Await it (or Release it) before the export returns, or the
// host frees it; holding more than abi.MaxHandles live futures makes new
// operations fail with ErrLimitExceeded.
type Future struct {
	op     string
	handle int32
	isGet  bool
	live   bool       // handle is held by this future
	done   bool       // status is the completion status
	status abi.Status // valid when done
	value  []byte     // a get's value, once read
	read   bool       // value was read (or there is none to read)
}

// start wraps the result of a kv_* host function: a handle, or a negated
// status when the operation could not start.
func start(op string, isGet bool, r int32) *Future {
	if r < 0 {
		return failed(op, abi.StatusFromNeg(r))
	}
	return &Future{op: op, handle: r, isGet: isGet, live: true}
}

// failed is a Future that completed before it started.
func failed(op string, s abi.Status) *Future {
	return &Future{op: op, done: true, status: s, read: true}
}

// Await waits until the operation completes or the call's deadline passes
// and returns its result: the value for a get, nil for other operations.
// The handle is released once the result is known, so Await can be called
// again and returns the same result. Errors: ErrNotFound for a missing key,
// ErrExists for Create on a present key, ErrUnavailable, ErrTimeout (the
// handle is then kept; the call is about to end anyway), ErrBadHandle after
// Release.
func (f *Future) Await() ([]byte, error) {
	return f.AwaitTimeout(-1)
}

// AwaitTimeout is Await with a bound: if the operation has not completed
// after d it returns ErrPending and the Future stays usable. d < 0 waits
// until the call's deadline (Await); d == 0 only polls.
func (f *Future) AwaitTimeout(d time.Duration) ([]byte, error) {
	if !f.done {
		if !f.live {
			return nil, &StatusError{Op: f.op, Status: abi.StatusBadHandle}
		}
		s := abi.Status(hostAwait(f.handle, timeoutMillis(d)))
		if s == abi.StatusPending || s == abi.StatusTimeout {
			return nil, &StatusError{Op: f.op, Status: s}
		}
		f.done, f.status = true, s
	}
	return f.finish()
}

// Poll reports whether the operation has completed, without blocking. After
// Poll returns true, Await returns at once.
func (f *Future) Poll() bool {
	if f.done {
		return true
	}
	if !f.live {
		return false
	}
	s := abi.Status(hostPoll(f.handle))
	if s == abi.StatusPending {
		return false
	}
	f.done, f.status = true, s
	return true
}

// Release frees the operation's handle. A pending operation is cancelled: a
// put or delete may or may not have happened. Releasing twice, or after
// Await returned, does nothing.
func (f *Future) Release() {
	if f.live {
		hostRelease(f.handle)
		f.live = false
	}
}

// finish reads a completed operation's result once and releases the handle.
func (f *Future) finish() ([]byte, error) {
	if !f.read {
		if f.status == abi.StatusOK && f.isGet {
			if !f.live {
				return nil, &StatusError{Op: f.op, Status: abi.StatusBadHandle}
			}
			f.value, f.status = resultValue(f.handle)
		}
		f.read = true
		f.Release()
	}
	return f.value, statusErr(f.op, f.status)
}

// AwaitAny waits until one of futures has completed, or the call's deadline
// passes, and returns its index; Await on that future then returns at once.
// A future that has already completed counts (the lowest index wins), so a
// caller removes or nils out the futures it has consumed; nil entries are
// ignored. Errors: ErrTimeout at the deadline, ErrBadArgument when no entry
// is live, ErrLimitExceeded for more than abi.MaxHandles live entries.
func AwaitAny(futures ...*Future) (int, error) {
	return AwaitAnyTimeout(-1, futures...)
}

// AwaitAnyTimeout is AwaitAny with a bound: if none has completed after d it
// returns ErrPending. d < 0 waits until the call's deadline; d == 0 polls.
func AwaitAnyTimeout(d time.Duration, futures ...*Future) (int, error) {
	const op = "await_any"
	var handles [abi.MaxHandles]int32
	var index [abi.MaxHandles]int
	n := 0
	for i, f := range futures {
		if f == nil {
			continue
		}
		if f.done {
			return i, nil
		}
		if !f.live {
			continue
		}
		if n == len(handles) {
			return -1, &StatusError{Op: op, Status: abi.StatusLimitExceeded}
		}
		handles[n], index[n] = f.handle, i
		n++
	}
	if n == 0 {
		return -1, &StatusError{Op: op, Status: abi.StatusBadArgument}
	}
	r := hostAwaitAny(unsafe.Pointer(&handles[0]), int32(n), timeoutMillis(d))
	if r < 0 {
		return -1, &StatusError{Op: op, Status: abi.StatusFromNeg(r)}
	}
	if int(r) >= n {
		return -1, &StatusError{Op: op, Status: abi.StatusInternal}
	}
	i := index[r]
	futures[i].Poll()
	return i, nil
}
