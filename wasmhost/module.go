package wasmhost

import (
	"context"
	"crypto/rand"
	"fmt"
	"sync"

	"github.com/tetratelabs/wazero"

	"github.com/tlsgate/tlsgate/abi"
)

// randReader is the guests' randomness source (WASI random_get).
var randReader = rand.Reader

// Module is a validated, compiled guest. It is immutable and safe for
// concurrent use; pools instantiate it.
type Module struct {
	rt       *Runtime
	name     string
	digest   string
	size     int
	compiled wazero.CompiledModule
	cfg      wazero.ModuleConfig

	hooks    hookSet // the hooks it exports
	shared   bool    // exports abi.ExportSharedInstances
	maxPages uint32  // effective memory cap in pages

	closeOnce sync.Once
	closeErr  error
	closed    chan struct{}
}

// Name returns the name given to Compile.
func (m *Module) Name() string { return m.name }

// Digest returns the SHA-256 of the module's bytes, in lower-case hex.
func (m *Module) Digest() string { return m.digest }

// SharedInstances reports whether the guest declares that one instance may
// serve calls of several tenants (it exports abi.ExportSharedInstances);
// see Share.
func (m *Module) SharedInstances() bool { return m.shared }

// Size returns the length of the module's bytes.
func (m *Module) Size() int { return m.size }

// HasFetch reports whether the guest exports tlsgate_on_session_fetch.
func (m *Module) HasFetch() bool { return m.Has(abi.CallFetch) }

// HasStore reports whether the guest exports tlsgate_on_session_store.
func (m *Module) HasStore() bool { return m.Has(abi.CallStore) }

// Has reports whether the guest exports the hook that runs as call kind k.
func (m *Module) Has(k abi.CallKind) bool { return int(k) < len(m.hooks) && m.hooks[k] }

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
