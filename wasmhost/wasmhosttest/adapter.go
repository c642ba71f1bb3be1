package wasmhosttest

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/tlsgate/tlsgate/wasmhost"
)

// NewWasmhost returns a Host backed by package wasmhost. Load compiles the
// module with rt and makes a pool for the tenant whose KV is kv(ctx, tenant)
// (an error from kv fails the Load),
// with the spec's guest configuration, an Observer that counts abandoned KV
// operations (see KVOpCounter), a wasmhost.Share with every other Load of the
// same bytes and guest configuration (used when the guest exports
// tlsgate_shared_instances), a call and an init timeout of 30 s, and then
// opts (for example wasmhost.WithCallTimeout; a wasmhost.WithObserver there
// replaces the counting one). The 30 s timeouts leave the deadlines to the
// kit (see WithCallTimeout): wasmhost's production defaults (100 ms a call)
// are missed by a sound guest on a loaded machine. Closing the Guest closes
// the pool and the module. The caller keeps ownership of rt and of the KVs.
func NewWasmhost(rt *wasmhost.Runtime, kv func(ctx context.Context, tenant string) (wasmhost.KV, error), opts ...wasmhost.PoolOption) Host {
	return &wasmhostHost{rt: rt, kv: kv, opts: opts}
}

// KVOpCounter is implemented by a Guest whose host can tell how its key-value
// operations ended. TestGuest uses it, when present, to check that the guest
// awaits every operation it starts: an operation still pending when the
// guest released its handle or returned is abandoned (a put may or may not
// have happened).
type KVOpCounter interface {
	// KVOps returns the number of operations that completed and of those
	// abandoned, so far.
	KVOps() (completed, abandoned uint64)
}

type wasmhostHost struct {
	rt   *wasmhost.Runtime
	kv   func(ctx context.Context, tenant string) (wasmhost.KV, error)
	opts []wasmhost.PoolOption

	// Loads of the same module bytes and guest config share one compiled
	// module and one wasmhost.Share, as tlsgate's tenants do: the kit's
	// checks of two tenants then run on shared instances when the guest
	// exports tlsgate_shared_instances.
	mu   sync.Mutex
	mods map[string]*loadedModule
}

type loadedModule struct {
	m     *wasmhost.Module
	share *wasmhost.Share
	refs  int
}

func (h *wasmhostHost) module(ctx context.Context, spec GuestSpec) (string, *loadedModule, error) {
	sum := sha256.Sum256(spec.Wasm)
	key := string(sum[:]) + "\x00" + string(spec.Config)
	h.mu.Lock()
	defer h.mu.Unlock()
	if lm, ok := h.mods[key]; ok {
		lm.refs++
		return key, lm, nil
	}
	m, err := h.rt.Compile(ctx, spec.Name, spec.Wasm)
	if err != nil {
		return "", nil, err
	}
	share, err := wasmhost.NewShare(m, spec.Config)
	if err != nil {
		return "", nil, errors.Join(err, m.Close(ctx))
	}
	if h.mods == nil {
		h.mods = map[string]*loadedModule{}
	}
	lm := &loadedModule{m: m, share: share, refs: 1}
	h.mods[key] = lm
	return key, lm, nil
}

// release drops one Load's hold on its module; the last closes it.
func (h *wasmhostHost) release(ctx context.Context, key string) error {
	h.mu.Lock()
	lm := h.mods[key]
	lm.refs--
	last := lm.refs == 0
	if last {
		delete(h.mods, key)
	}
	h.mu.Unlock()
	if !last {
		return nil
	}
	return errors.Join(lm.share.Close(ctx), lm.m.Close(ctx))
}

var _ Host = (*wasmhostHost)(nil)

// hostTimeout is the call and init timeout of the pools NewWasmhost makes,
// unless its opts say otherwise: as generous as the kit's own deadlines.
const hostTimeout = 30 * time.Second

func (h *wasmhostHost) Load(ctx context.Context, spec GuestSpec) (Guest, error) {
	kv, err := h.kv(ctx, spec.Tenant)
	if err != nil {
		return nil, fmt.Errorf("wasmhosttest: KV of tenant %q: %w", spec.Tenant, err)
	}
	key, lm, err := h.module(ctx, spec)
	if err != nil {
		return nil, err
	}
	obs := &opCounter{}
	opts := append([]wasmhost.PoolOption{
		wasmhost.WithTenant(spec.Tenant),
		wasmhost.WithGuestConfig(spec.Config),
		wasmhost.WithKV(kv),
		wasmhost.WithObserver(obs),
		wasmhost.WithShare(lm.share),
		wasmhost.WithCallTimeout(hostTimeout),
		wasmhost.WithInitTimeout(hostTimeout),
	}, h.opts...)
	p, err := wasmhost.NewPool(ctx, lm.m, opts...)
	if err != nil {
		return nil, errors.Join(err, h.release(ctx, key))
	}
	return &wasmhostGuest{Pool: p, h: h, key: key, ops: obs}, nil
}

// wasmhostGuest is a pool that also holds its module.
type wasmhostGuest struct {
	*wasmhost.Pool
	h   *wasmhostHost
	key string
	ops *opCounter
}

var _ KVOpCounter = (*wasmhostGuest)(nil)

func (g *wasmhostGuest) Close(ctx context.Context) error {
	return errors.Join(g.Pool.Close(ctx), g.h.release(ctx, g.key))
}

func (g *wasmhostGuest) KVOps() (completed, abandoned uint64) {
	return g.ops.completed.Load(), g.ops.abandoned.Load()
}

// opCounter is a wasmhost.Observer counting KV operations; the host cancels
// the context of an operation whose handle is released or outlives the call.
type opCounter struct {
	completed, abandoned atomic.Uint64
}

func (*opCounter) CallDone(string, string, time.Duration, error) {}
func (*opCounter) InstanceCreated(string)                        {}
func (*opCounter) InstanceDiscarded(string, string)              {}
func (*opCounter) GuestSuspended(string, time.Duration)          {}
func (o *opCounter) KVOp(_, _ string, _ time.Duration, err error) {
	o.completed.Add(1)
	if errors.Is(err, context.Canceled) {
		o.abandoned.Add(1)
	}
}
