package wasmhost

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"sync"

	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/imports/wasi_snapshot_preview1"

	"github.com/tlsgate/tlsgate/abi"
)

// Runtime compiles and runs guests. It owns one wazero runtime (compiler
// engine, CloseOnContextDone, a memory cap), the "tlsgate" host module,
// wazero's WASI module and the watchdog that ends calls past their
// deadline. It is safe for concurrent use.
type Runtime struct {
	rt       wazero.Runtime
	cache    wazero.CompilationCache
	logger   *slog.Logger
	memLimit uint32 // pages
	mem      memoryBudget
	idle     idleLRU
	reaper   *reaper
	watch    *watchdog

	wasiFuncs map[string]funcSig // WASI exports a guest may import

	closeOnce sync.Once
	closeErr  error
	closed    chan struct{}
}

// RuntimeOption configures NewRuntime.
type RuntimeOption func(*runtimeOptions)

type runtimeOptions struct {
	cacheDir  string
	memLimit  uint32
	memBudget uint64
	maxInst   int
	logger    *slog.Logger
}

// WithCompilationCacheDir keeps compiled machine code in dir so that a
// restart (or another test) skips compilation. Default: an in-memory cache
// only, dropped with the Runtime.
func WithCompilationCacheDir(dir string) RuntimeOption {
	return func(o *runtimeOptions) { o.cacheDir = dir }
}

// WithMemoryLimitPages caps every guest's linear memory, in 64 KiB pages.
// A module declaring a larger minimum is refused by Compile, a larger
// maximum is lowered to the cap; a guest growing past the cap sees
// memory.grow fail. Default: 1024 (64 MiB).
func WithMemoryLimitPages(pages uint32) RuntimeOption {
	return func(o *runtimeOptions) { o.memLimit = pages }
}

// WithMemoryBudget bounds the linear memory of all the runtime's live
// guest instances together, in bytes, across every pool: an instance that
// would start past it is not started (the call fails with
// ErrMemoryBudget, a full handshake), and one that has grown the total past
// it is retired when its call ends. The budget counts instances between
// calls: during a call an instance may grow up to WithMemoryLimitPages, so
// the peak is the budget plus the calls running times that cap. Memory of
// retired instances is handed back to the operating system promptly
// (after 128 MiB retired, at most once a second). 0 means no budget.
// Default: 0.
func WithMemoryBudget(bytes uint64) RuntimeOption {
	return func(o *runtimeOptions) { o.memBudget = bytes }
}

// WithInstanceBudget bounds how many guest instances all the runtime's
// pools hold together. Like WithMemoryBudget, a new instance past it first
// closes the instance idle longest, of any pool, and fails with
// ErrMemoryBudget when every instance is busy. 0 means no bound. Default: 0.
func WithInstanceBudget(n int) RuntimeOption {
	return func(o *runtimeOptions) { o.maxInst = n }
}

// WithLogger sets the logger of the runtime and the default logger of its
// pools. Default: slog.Default().
func WithLogger(l *slog.Logger) RuntimeOption {
	return func(o *runtimeOptions) { o.logger = l }
}

// NewRuntime creates a Runtime. Close it when done.
func NewRuntime(ctx context.Context, opts ...RuntimeOption) (*Runtime, error) {
	o := runtimeOptions{memLimit: 1024}
	for _, opt := range opts {
		opt(&o)
	}
	if o.logger == nil {
		o.logger = slog.Default()
	}
	if o.memLimit == 0 || o.memLimit > 65536 {
		return nil, fmt.Errorf("wasmhost: memory limit of %d pages is outside 1..65536", o.memLimit)
	}
	var cache wazero.CompilationCache
	if o.cacheDir != "" {
		c, err := wazero.NewCompilationCacheWithDir(o.cacheDir)
		if err != nil {
			return nil, fmt.Errorf("wasmhost: compilation cache %q: %w", o.cacheDir, err)
		}
		cache = c
	} else {
		cache = wazero.NewCompilationCache()
	}
	cfg := wazero.NewRuntimeConfigCompiler().
		WithCloseOnContextDone(true).
		WithMemoryLimitPages(o.memLimit).
		WithCompilationCache(cache)
	r := &Runtime{
		rt:       wazero.NewRuntimeWithConfig(ctx, cfg),
		cache:    cache,
		logger:   o.logger,
		memLimit: o.memLimit,
		mem:      memoryBudget{limit: int64(min(o.memBudget, 1<<62)), maxInstances: int64(max(o.maxInst, 0))},
		reaper:   newReaper(),
		watch:    newWatchdog(),
		closed:   make(chan struct{}),
	}
	if _, err := wasi_snapshot_preview1.Instantiate(ctx, r.rt); err != nil {
		_ = r.Close(ctx)
		return nil, fmt.Errorf("wasmhost: instantiate WASI: %w", err)
	}
	if err := instantiateHostModule(ctx, r.rt); err != nil {
		_ = r.Close(ctx)
		return nil, fmt.Errorf("wasmhost: instantiate host module: %w", err)
	}
	wasi := r.rt.Module(abi.WASIModule)
	r.wasiFuncs = make(map[string]funcSig)
	for name, def := range wasi.ExportedFunctionDefinitions() {
		r.wasiFuncs[name] = sigOf(def)
	}
	return r, nil
}

// Compile validates and compiles a guest. name identifies it in errors and
// logs (a file name is fine). Errors caused by the module wrap
// ErrInvalidModule and name the module and the problem.
func (r *Runtime) Compile(ctx context.Context, name string, wasm []byte) (*Module, error) {
	select {
	case <-r.closed:
		return nil, errors.New("wasmhost: runtime closed")
	default:
	}
	compiled, err := r.rt.CompileModule(ctx, wasm)
	if err != nil {
		if ctx.Err() != nil {
			return nil, fmt.Errorf("wasmhost: module %q: compile: %w", name, ctx.Err())
		}
		return nil, &invalidModuleError{module: name, msg: "compile", err: err}
	}
	m, err := r.newModule(name, wasm, compiled)
	if err != nil {
		_ = compiled.Close(ctx)
		return nil, err
	}
	return m, nil
}

func (r *Runtime) newModule(name string, wasm []byte, compiled wazero.CompiledModule) (*Module, error) {
	v, err := validate(name, wasm, compiled, r.wasiFuncs)
	if err != nil {
		return nil, err
	}
	sum := sha256.Sum256(wasm)
	cfg := wazero.NewModuleConfig().
		WithName(""). // anonymous: a pool holds many instances of one module
		WithSysWalltime().
		WithSysNanotime().
		WithRandSource(randReader).
		WithStartFunctions()
	if v.hasInitialize {
		cfg = cfg.WithStartFunctions(abi.ExportInitialize)
	}
	maxPages := r.memLimit
	if mems := compiled.ExportedMemories(); mems != nil {
		if def, ok := mems[abi.ExportMemory]; ok {
			if mx, ok := def.Max(); ok && mx < maxPages {
				maxPages = mx
			}
		}
	}
	return &Module{
		rt:       r,
		name:     name,
		digest:   hex.EncodeToString(sum[:]),
		size:     len(wasm),
		compiled: compiled,
		cfg:      cfg,
		hooks:    v.hooks,
		shared:   v.shared,
		maxPages: maxPages,
		closed:   make(chan struct{}),
	}, nil
}

// Close closes every module and instance of the runtime and its compilation
// cache. Pools should be closed first. Safe to call more than once.
func (r *Runtime) Close(ctx context.Context) error {
	r.closeOnce.Do(func() {
		close(r.closed)
		r.reaper.close()
		err := r.rt.Close(ctx)
		r.watch.close()
		if cerr := r.cache.Close(ctx); err == nil {
			err = cerr
		}
		if err != nil {
			r.closeErr = fmt.Errorf("wasmhost: close runtime: %w", err)
		}
	})
	return r.closeErr
}
