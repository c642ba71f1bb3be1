package wasmhost

import (
	"context"
	"errors"
	"time"
)

// KV is a tenant's key-value namespace. The gateway provides a NATS JetStream
// implementation; a Pool hands it the keys its guest names, already encoded
// by the host (base64url without padding of the guest's bytes), so a guest
// can reach nothing outside the namespace it was given.
//
// Implementations must be safe for concurrent use and honour ctx: it ends
// at the call's deadline, when the guest releases a handle, and, for an
// operation launched to run beside the guest, when the export call ends.
// ctx is valid only until the method returns: an operation run inline (the
// guest blocked in await) gets the instance's own context, which later
// calls reuse, so an implementation must not keep it (context.WithoutCancel
// of it keeps nothing the host hands out).
// The host never modifies a value Get returns (it copies it into the guest),
// and gives Put and Create a value of their own (a copy of the guest's), so
// an implementation may keep either without copying.
type KV interface {
	// Get returns the value of key, or an error wrapping ErrKeyNotFound.
	Get(ctx context.Context, key string) ([]byte, error)
	// Put sets key to value; ttl > 0 expires it after ttl, ttl == 0 keeps
	// it for the namespace's default lifetime.
	Put(ctx context.Context, key string, value []byte, ttl time.Duration) error
	// Create is Put that fails with an error wrapping ErrKeyExists when
	// the key is already present.
	Create(ctx context.Context, key string, value []byte, ttl time.Duration) error
	// Delete removes key; a missing key is not an error.
	Delete(ctx context.Context, key string) error
}

// Errors a KV implementation wraps so that the host reports the right status
// to the guest. Any other error completes the operation with
// abi.StatusInternal (abi.StatusTimeout for context errors).
var (
	// ErrKeyNotFound: the key does not exist (abi.StatusNotFound).
	ErrKeyNotFound = errors.New("wasmhost: key not found")
	// ErrKeyExists: Create found the key present (abi.StatusExists).
	ErrKeyExists = errors.New("wasmhost: key exists")
	// ErrUnavailable: the store cannot be reached now (abi.StatusUnavailable).
	ErrUnavailable = errors.New("wasmhost: key-value store unavailable")
	// ErrLimitExceeded: the write would exceed the tenant's storage quota or
	// write budget (abi.StatusLimitExceeded); nothing was written.
	ErrLimitExceeded = errors.New("wasmhost: key-value limit exceeded")
)
