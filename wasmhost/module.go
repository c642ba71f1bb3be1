package wasmhost

import (
	"context"
	"crypto/rand"
	"fmt"
	"sync"

	"github.com/tetratelabs/wazero"
)

// randReader is the guests' randomness source (WASI random_get).
var randReader = rand.Reader

// Module is a validated, compiled guest. It is immutable and safe for
// concurrent use; pools instantiate it.
type Module struct {
	rt       *Runtime
	name     string
	digest   string
	compiled wazero.CompiledModule
	cfg      wazero.ModuleConfig

	hasFetch, hasStore, hasInit bool
	maxPages                    uint32 // effective memory cap in pages

	closeOnce sync.Once
	closeErr  error
	closed    chan struct{}
}

// Name returns the name given to Compile.
func (m *Module) Name() string { return m.name }

// Digest returns the SHA-256 of the module's bytes, in lower-case hex.
func (m *Module) Digest() string { return m.digest }

// HasFetch reports whether the guest exports tlsgate_on_session_fetch.
func (m *Module) HasFetch() bool { return m.hasFetch }

// HasStore reports whether the guest exports tlsgate_on_session_store.
func (m *Module) HasStore() bool { return m.hasStore }

// Probe starts one instance of m the way a pool with opts would
// (_initialize, then tlsgate_on_init with the pool's guest config), and
// closes it, so that a module is refused when it is loaded even where its
// pools are lazy (WithMinIdle(0)). It returns what NewPool would. Probe
// each module and guest config once, not once per pool: instances of the
// same module and config start the same way.
func (m *Module) Probe(ctx context.Context, opts ...PoolOption) error {
	p, err := NewPool(ctx, m, append(opts, WithMinIdle(1), WithMaxInstances(1))...)
	if err != nil {
		return err
	}
	return p.Close(ctx)
}

// Close releases the compiled code. Pools of the module must be closed
// first; NewPool fails afterwards. Safe to call more than once.
func (m *Module) Close(ctx context.Context) error {
	m.closeOnce.Do(func() {
		close(m.closed)
		if err := m.compiled.Close(ctx); err != nil {
			m.closeErr = fmt.Errorf("wasmhost: close module %q: %w", m.name, err)
		}
	})
	return m.closeErr
}
