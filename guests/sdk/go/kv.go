package guest

import (
	"time"
	"unsafe"

	"github.com/tlsgate/tlsgate/abi"
)

// Store is the tenant's key-value namespace. The host confines every key to
// the tenant of the call, so keys are plain bytes chosen by the guest: any
// bytes, 1 to abi.MaxKeyLen long. Values are at most abi.MaxValueLen bytes.
//
// The blocking methods (Get, Put, Create, Delete) start an operation and
// await it until the call's deadline. The Async methods return a [Future]
// at once, so a guest can run several operations concurrently.
type Store struct{}

// KV is the tenant's key-value namespace; the zero value is ready to use.
var KV Store

// Get returns the value of key. Errors: ErrNotFound for a missing or expired
// key, ErrUnavailable when the store cannot be reached, ErrTimeout at the
// call's deadline, ErrBadArgument or ErrLimitExceeded for a bad key.
func (Store) Get(key []byte) ([]byte, error) { return KV.GetAppend(nil, key) }

// GetAppend is Get appending the value to dst: with a dst of enough
// capacity, reused across calls, a hit allocates nothing. On error dst is
// returned unchanged.
func (Store) GetAppend(dst, key []byte) ([]byte, error) {
	const op = "kv get"
	if s := checkKey(key); s != abi.StatusOK {
		return dst, &StatusError{Op: op, Status: s}
	}
	h := hostKVGet(ptr(key), int32(len(key)))
	if s := awaitBlocking(h); s != abi.StatusOK {
		return dst, statusErr(op, s)
	}
	out, s := appendGrowing(dst, func(buf unsafe.Pointer, limit int32) int32 {
		return hostResult(h, buf, limit)
	})
	hostRelease(h)
	if s != abi.StatusOK {
		return dst, statusErr(op, s)
	}
	return out, nil
}

// Put sets key to value. ttl > 0 expires the key after ttl (rounded up to a
// millisecond); ttl <= 0 keeps it for the namespace's default lifetime.
// Errors: ErrUnavailable, ErrTimeout, ErrBadArgument, ErrLimitExceeded.
func (Store) Put(key, value []byte, ttl time.Duration) error {
	if s := checkKeyValue(key, value); s != abi.StatusOK {
		return &StatusError{Op: "kv put", Status: s}
	}
	h := hostKVPut(ptr(key), int32(len(key)), ptr(value), int32(len(value)), ttlMillis(ttl))
	return release("kv put", h, awaitBlocking(h))
}

// Create sets key to value only if key is absent; otherwise it returns
// ErrExists and leaves the key alone. ttl is as for Put.
func (Store) Create(key, value []byte, ttl time.Duration) error {
	if s := checkKeyValue(key, value); s != abi.StatusOK {
		return &StatusError{Op: "kv create", Status: s}
	}
	h := hostKVCreate(ptr(key), int32(len(key)), ptr(value), int32(len(value)), ttlMillis(ttl))
	return release("kv create", h, awaitBlocking(h))
}

// Delete removes key; deleting a missing key succeeds.
func (Store) Delete(key []byte) error {
	if s := checkKey(key); s != abi.StatusOK {
		return &StatusError{Op: "kv delete", Status: s}
	}
	h := hostKVDelete(ptr(key), int32(len(key)))
	return release("kv delete", h, awaitBlocking(h))
}

// awaitBlocking waits for the operation behind h (or the negated status a
// start function returned) until the call's deadline. The blocking methods
// use it instead of a Future: no allocation on success.
func awaitBlocking(h int32) abi.Status {
	if h < 0 {
		return abi.StatusFromNeg(h)
	}
	s := abi.Status(hostAwait(h, -1))
	if s != abi.StatusOK {
		hostRelease(h)
	}
	return s
}

// release frees h after a successful await and turns s into an error.
func release(op string, h int32, s abi.Status) error {
	if s == abi.StatusOK {
		hostRelease(h)
	}
	return statusErr(op, s)
}

// GetAsync starts reading key. The Future's Await returns the value.
func (Store) GetAsync(key []byte) *Future {
	if s := checkKey(key); s != abi.StatusOK {
		return failed("kv get", s)
	}
	return start("kv get", true, hostKVGet(ptr(key), int32(len(key))))
}

// PutAsync starts writing key = value with ttl as for Put.
func (Store) PutAsync(key, value []byte, ttl time.Duration) *Future {
	if s := checkKeyValue(key, value); s != abi.StatusOK {
		return failed("kv put", s)
	}
	return start("kv put", false,
		hostKVPut(ptr(key), int32(len(key)), ptr(value), int32(len(value)), ttlMillis(ttl)))
}

// CreateAsync starts creating key = value if key is absent, with ttl as for Put.
func (Store) CreateAsync(key, value []byte, ttl time.Duration) *Future {
	if s := checkKeyValue(key, value); s != abi.StatusOK {
		return failed("kv create", s)
	}
	return start("kv create", false,
		hostKVCreate(ptr(key), int32(len(key)), ptr(value), int32(len(value)), ttlMillis(ttl)))
}

// DeleteAsync starts deleting key.
func (Store) DeleteAsync(key []byte) *Future {
	if s := checkKey(key); s != abi.StatusOK {
		return failed("kv delete", s)
	}
	return start("kv delete", false, hostKVDelete(ptr(key), int32(len(key))))
}

// checkKey refuses what the host would refuse, without a host call.
func checkKey(key []byte) abi.Status {
	switch {
	case len(key) == 0:
		return abi.StatusBadArgument
	case len(key) > abi.MaxKeyLen:
		return abi.StatusLimitExceeded
	}
	return abi.StatusOK
}

func checkKeyValue(key, value []byte) abi.Status {
	if s := checkKey(key); s != abi.StatusOK {
		return s
	}
	if len(value) > abi.MaxValueLen {
		return abi.StatusLimitExceeded
	}
	return abi.StatusOK
}

// ttlMillis converts a TTL to the ABI's ttl_ms: 0 for "default lifetime",
// otherwise whole milliseconds rounded up.
func ttlMillis(ttl time.Duration) int64 {
	if ttl <= 0 {
		return 0
	}
	ms := int64(ttl / time.Millisecond)
	if ttl%time.Millisecond != 0 {
		ms++ // adding first would overflow near the largest Duration
	}
	return ms
}

// timeoutMillis converts a wait to the ABI's timeout_ms: negative waits until
// the call's deadline, 0 polls, anything else is rounded up to a millisecond
// and capped at the largest i32.
func timeoutMillis(d time.Duration) int32 {
	switch {
	case d < 0:
		return -1
	case d == 0:
		return 0
	}
	ms := (d + time.Millisecond - 1) / time.Millisecond
	if ms > 1<<31-1 {
		return 1<<31 - 1
	}
	return int32(ms)
}

// resultValue reads a completed get's value with the (buf, limit) protocol.
func resultValue(handle int32) ([]byte, abi.Status) {
	return readGrowing(func(buf unsafe.Pointer, limit int32) int32 {
		return hostResult(handle, buf, limit)
	})
}
