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
	tenant      string
	guestConfig []byte
	kv          KV
	max         int
	minIdle     int
	idleTimeout time.Duration
	callTimeout time.Duration
	initTimeout time.Duration
	logger      *slog.Logger
	obs         Observer
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

// WithMinIdle is the number of idle instances kept warm: created up front,
// refilled by the reaper, never reaped. Default: 1.
func WithMinIdle(n int) PoolOption { return func(o *poolOptions) { o.minIdle = n } }

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

// WithObserver receives the pool's events, e.g. for metrics. Default: none.
func WithObserver(obs Observer) PoolOption {
	return func(o *poolOptions) {
		if obs != nil {
			o.obs = obs
		}
	}
}
