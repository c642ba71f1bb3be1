// Package wasmhosttest is the conformance kit of the tlsgate guest ABI v1
// (docs/abi.md), in the manner of testing/fstest: TestGuest checks that a
// session-cache guest behaves, TestHost checks that a host implementation
// contains every fault the kit's guests commit.
//
// A host implementation is reached through the small [Host] interface;
// [NewWasmhost] adapts package wasmhost to it. Errors are judged in
// wasmhost's vocabulary: a miss is wasmhost.ErrMiss, a failed guest call a
// *wasmhost.GuestError with its FaultKind, a refused module an error wrapping
// wasmhost.ErrInvalidModule.
//
// The guests are hand-written WAT in testdata/, compiled and embedded; see
// [Guests]. Each .wat file states its documented outcome in its header.
//
// Checking a guest against tlsgate's host, with a KV per tenant:
//
//	func TestMyGuest(t *testing.T) {
//		rt, err := wasmhost.NewRuntime(ctx)
//		...
//		host := wasmhosttest.NewWasmhost(rt, func(ctx context.Context, tenant string) (wasmhost.KV, error) {
//			return natsClient.Bucket(ctx, tenant)
//		})
//		wasmhosttest.TestGuest(t, host, wasm, wasmhosttest.WithTTLCheck())
//	}
package wasmhosttest

import (
	"context"
	"time"

	"github.com/tlsgate/tlsgate/wasmhost"
)

// Host is what the kit needs of a host implementation: load a guest module
// for a tenant. The host gives each tenant its own key-value namespace; two
// tenants never see each other's keys.
type Host interface {
	// Load compiles spec.Wasm and readies it to serve spec.Tenant, so that
	// a module that breaks the ABI is refused here, not at the first call.
	// Its error wraps wasmhost.ErrInvalidModule when the module itself is
	// at fault (malformed, wrong exports or imports); a failing
	// tlsgate_on_init is an error too.
	Load(ctx context.Context, spec GuestSpec) (Guest, error)
}

// GuestSpec describes one guest to load.
type GuestSpec struct {
	Name   string // module name, used in errors
	Tenant string // tenant the guest serves; it selects the KV namespace
	Wasm   []byte // the module's bytes
	Config []byte // the tenant's guest configuration (abi.InputGuestConfig); may be nil
}

// Guest is a loaded guest ready for calls; *wasmhost.Pool implements it.
//
// Fetch returns the session on a hit, wasmhost.ErrMiss on a miss,
// wasmhost.ErrNoExport when the guest has no fetch export and a
// *wasmhost.GuestError when the call failed; Store likewise. Both must be
// safe to call again after any failure.
type Guest interface {
	Fetch(ctx context.Context, in wasmhost.FetchInput) ([]byte, error)
	Store(ctx context.Context, in wasmhost.StoreInput) error
	Close(ctx context.Context) error
}

var _ Guest = (*wasmhost.Pool)(nil)

// HookGuest is a loaded guest of a host that implements the hooks of ABI
// 1.1 beside the session hooks; TestHost requires it.
type HookGuest interface {
	Guest
	ClientHello(ctx context.Context, in wasmhost.ClientHelloInput) (wasmhost.HelloDecision, error)
	Certificate(ctx context.Context, in wasmhost.CertificateInput) (wasmhost.CertificateDecision, error)
	UpstreamFetch(ctx context.Context, upstream string) ([]byte, error)
	UpstreamStore(ctx context.Context, upstream string, sealed []byte, ttl time.Duration) error
}

var _ HookGuest = (*wasmhost.Pool)(nil)
