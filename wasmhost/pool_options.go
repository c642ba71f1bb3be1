package wasmhost

import (
	"fmt"
	"log/slog"
	"time"

	"github.com/tlsgate/tlsgate/abi"
)

// PoolOption configures NewPool.
type PoolOption func(*poolOptions)

type poolOptions struct {
	tenant       string
	guestConfig  []byte
	kv           KV
	max          int
	minIdle      int
	prewarm      int
	idleTimeout  time.Duration
	callTimeout  time.Duration
	initTimeout  time.Duration
	logger       *slog.Logger
	obs          Observer
	suspend      suspender
	writeCall    int // bytes of KV keys and values one call may write; 0: no limit
	writeRate    int // bytes per second all calls may write; 0: no limit
	cpuPerSecond time.Duration
	share        *Share
}

func (o *poolOptions) validate() error {
	switch {
	case o.tenant == "":
		return fmt.Errorf("wasmhost: NewPool: empty tenant name")
	case len(o.guestConfig) > abi.MaxInputLen:
		return fmt.Errorf("wasmhost: NewPool: guest config of %d bytes, limit %d: %w", len(o.guestConfig), abi.MaxInputLen, ErrInputTooLarge)
	case o.max < 1:
		return fmt.Errorf("wasmhost: NewPool: max instances %d, want at least 1", o.max)
	case o.minIdle < 0:
		return fmt.Errorf("wasmhost: NewPool: min idle %d, want at least 0", o.minIdle)
	case o.idleTimeout <= 0:
		return fmt.Errorf("wasmhost: NewPool: idle timeout %v, want > 0", o.idleTimeout)
	case o.callTimeout <= 0:
		return fmt.Errorf("wasmhost: NewPool: call timeout %v, want > 0", o.callTimeout)
	case o.initTimeout <= 0:
		return fmt.Errorf("wasmhost: NewPool: init timeout %v, want > 0", o.initTimeout)
	case o.suspend.threshold < 0 || (o.suspend.threshold > 0 && (o.suspend.first <= 0 || o.suspend.max < o.suspend.first)):
		return fmt.Errorf("wasmhost: NewPool: fault suspension after %d faults for %v up to %v: want threshold >= 0 and 0 < first <= max",
			o.suspend.threshold, o.suspend.first, o.suspend.max)
	case o.cpuPerSecond < 0:
		return fmt.Errorf("wasmhost: NewPool: CPU budget %v per second, want >= 0", o.cpuPerSecond)
	case o.writeCall < 0 || o.writeRate < 0:
		return fmt.Errorf("wasmhost: NewPool: write budget %d per call, %d per second, want >= 0", o.writeCall, o.writeRate)
	}
	return nil
}

// WithTenant names the tenant the pool serves (guest input InputTenant, log
// and metric labels). Default: "default".
func WithTenant(name string) PoolOption { return func(o *poolOptions) { o.tenant = name } }

// WithGuestConfig sets the opaque configuration guests read as
// InputGuestConfig, at most abi.MaxInputLen bytes. The pool keeps b; do not
// modify it afterwards. Default: empty.
func WithGuestConfig(b []byte) PoolOption { return func(o *poolOptions) { o.guestConfig = b } }

// WithKV sets the tenant's key-value namespace. Default: nil, and every KV
// operation of the guest completes with StatusUnavailable.
func WithKV(kv KV) PoolOption { return func(o *poolOptions) { o.kv = kv } }

// WithMaxInstances bounds the number of instances (and so of concurrent
// calls); further callers wait for one until their context ends.
// Default: 2*GOMAXPROCS.
func WithMaxInstances(n int) PoolOption { return func(o *poolOptions) { o.max = n } }

// WithMinIdle is the number of idle instances kept warm: created up front
// (so that NewPool fails fast on a guest that does not start), refilled by
// the runtime's reaper, never reaped. 0 makes a lazy pool: no instance
// until the first call, and back to none once idle past the idle timeout;
// it costs nothing while its tenant is quiet, and its first call pays the
// instantiation (WithPrewarm still starts instances up front, to fail fast
// and to be warm for the first calls). Default: 1.
func WithMinIdle(n int) PoolOption { return func(o *poolOptions) { o.minIdle = n } }

// WithPrewarm starts n instances up front (at most the maximum), so that
// NewPool fails fast on a guest that does not start and the first calls
// find an instance ready; those beyond WithMinIdle are reaped like any idle
// instance. Default: 0 (only the WithMinIdle ones).
func WithPrewarm(n int) PoolOption { return func(o *poolOptions) { o.prewarm = n } }

// WithIdleTimeout closes instances idle for longer than d (checked every
// d/2, at most every 30s). Default: 60s.
func WithIdleTimeout(d time.Duration) PoolOption { return func(o *poolOptions) { o.idleTimeout = d } }

// WithCallTimeout caps one export call, even when the caller's context has
// a later deadline or none: the call's deadline is min(ctx deadline,
// now+d). Default: 100ms.
func WithCallTimeout(d time.Duration) PoolOption { return func(o *poolOptions) { o.callTimeout = d } }

// WithInitTimeout caps the creation of one instance: instantiation,
// _initialize and tlsgate_on_init together. Default: 5s.
func WithInitTimeout(d time.Duration) PoolOption { return func(o *poolOptions) { o.initTimeout = d } }

// WithPoolLogger sets the logger of guest log messages and pool events; the
// pool adds the attributes tenant and module. Default: the Runtime's logger.
func WithPoolLogger(l *slog.Logger) PoolOption {
	return func(o *poolOptions) {
		if l != nil {
			o.logger = l
		}
	}
}

// WithWriteBudget bounds what the pool's guests write to the KV store:
// perCall bytes (keys and values, before the host's key encoding) in one
// export call, and perSecond bytes per second over all its calls, with
// bursts of one second's worth (or of one largest write, if more). A put or
// create past either completes at once with abi.StatusLimitExceeded, and is
// reported to the Observer with ErrLimitExceeded; nothing is written. 0
// means no limit. Default: no limits.
func WithWriteBudget(perCall, perSecond int) PoolOption {
	return func(o *poolOptions) { o.writeCall, o.writeRate = perCall, perSecond }
}

// WithFaultSuspension suspends an export of the pool's guest (fetch and
// store each on its own) after threshold calls of it in a row that faulted (FaultTrap, FaultTimeout, FaultMemory, FaultMisuse or
// FaultInit): calls then fail at once with ErrSuspended, costing no
// instance and no CPU, for first, doubling on each repeated suspension up
// to max; after that, one call at a time runs as a probe, and the first
// that does not fault ends the suspension. A looping guest otherwise burns
// its whole call timeout on every handshake. threshold 0 disables it.
// Default: 5 faults, 1s, 1m.
func WithFaultSuspension(threshold int, first, max time.Duration) PoolOption {
	return func(o *poolOptions) { o.suspend = suspender{threshold: threshold, first: first, max: max} }
}

// WithCPUBudget bounds the guest CPU the pool's calls may use: perSecond
// of it per second, in bursts of one second's worth. A call's CPU is its
// time in the guest less the time it waited for KV operations (await,
// await_any). While the pool is over budget, Fetch and Store fail at once
// with ErrCPUBudget, costing nothing, until the budget refills: a guest
// that is slow without faulting cannot take the CPU its neighbours need.
// 0 means no budget. Default: 0.
func WithCPUBudget(perSecond time.Duration) PoolOption {
	return func(o *poolOptions) { o.cpuPerSecond = perSecond }
}

// WithObserver receives the pool's events, e.g. for metrics. Default: none.
func WithObserver(obs Observer) PoolOption {
	return func(o *poolOptions) {
		if obs != nil {
			o.obs = obs
		}
	}
}

// WithShare lets the pool draw idle instances from s, and return them
// there, when the pool's module and guest config are s's and the module
// exports abi.ExportSharedInstances (see Share); otherwise s is ignored.
// A sharing pool keeps no idle instance of its own (WithMinIdle is 0).
// Default: none.
func WithShare(s *Share) PoolOption {
	return func(o *poolOptions) { o.share = s }
}
