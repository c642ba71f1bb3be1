// Package gateway is tlsgate's TLS gateway: listeners, tenants chosen by
// SNI, session resumption through each tenant's Wasm guest (fetch on a
// resumption attempt, store after a successful handshake) with sealed and
// bound session state, proxying to upstreams, hot reload and the admin
// endpoints.
package gateway

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net"
	"net/http"
	"os"
	"reflect"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/net/netutil"

	"github.com/tlsgate/tlsgate/gateway/config"
	"github.com/tlsgate/tlsgate/gateway/natskv"
	"github.com/tlsgate/tlsgate/wasmhost"
)

// ErrReloadRefused wraps the error of a Reload whose configuration was not
// applied; the configuration in force keeps serving.
var ErrReloadRefused = errors.New("gateway: reload refused")

// Gateway is a running tlsgate. Build it with New; stop it with Close.
type Gateway struct {
	ctx     context.Context
	cancel  context.CancelFunc
	log     *slog.Logger
	metrics *metrics

	nats     *natskv.Server // nil with an external NATS
	kv       *natskv.Client
	rt       *wasmhost.Runtime
	modules  moduleCache
	stores   *storeQueue
	registry *registryWatch // nil unless registry.enabled
	origin   byte           // marks the identifiers this gateway issues
	// dryRun builds tenants for Check: nothing is written (no generated
	// certificate or key file), and there is no NATS.
	dryRun bool

	snap      atomic.Pointer[snapshot]
	reloadMu  sync.Mutex
	retiring  sync.WaitGroup // old snapshots being drained and closed
	guests    guestWatch
	certFiles certWatch
	acmeMu    sync.Mutex
	acme      *acmeManager // made when a tenant first uses certificate.acme
	listeners []*listener
	admin     *adminServer
	httpLn    net.Listener // the http listener (ACME HTTP-01, redirects); nil without http.address
	httpSrv   *http.Server

	closeOnce sync.Once
	closeErr  error
}

// Option configures New.
type Option func(*options)

type options struct {
	log     *slog.Logger
	version string
}

// WithLogger sets the logger. Defaults to slog.Default().
func WithLogger(l *slog.Logger) Option { return func(o *options) { o.log = l } }

// WithVersion sets the version the admin endpoints report. Defaults to "dev".
func WithVersion(v string) Option { return func(o *options) { o.version = v } }

// New starts a gateway for cfg (which must have passed Validate): NATS
// (embedded, or connecting in the background to cfg.NATS.URL), the Wasm
// runtime, every tenant's certificate, guest and bucket, the listeners and
// the admin endpoint. It returns once everything is serving, or an error
// naming what failed, with everything it started closed again.
func New(ctx context.Context, cfg *config.Config, opts ...Option) (_ *Gateway, err error) {
	o := options{log: slog.Default(), version: "dev"}
	for _, opt := range opts {
		opt(&o)
	}
	gctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	g := &Gateway{ctx: gctx, cancel: cancel, log: o.log, metrics: newMetrics(), origin: newOrigin()}
	g.metrics.reg.MustRegister(newStateCollector(g))
	g.metrics.buildInfo.WithLabelValues(o.version, runtime.Version(), strconv.FormatBool(SessionIDResumption)).Set(1)
	defer func() {
		if err != nil {
			g.Close(context.WithoutCancel(ctx))
		}
	}()
	if err := checkDataDir(cfg.DataDir); err != nil {
		return nil, err
	}
	if err := os.MkdirAll(cfg.DataDir, 0o700); err != nil {
		return nil, fmt.Errorf("gateway: data_dir: %w", err)
	}
	if err := g.startNATS(ctx, cfg); err != nil {
		return nil, err
	}
	g.rt, err = wasmhost.NewRuntime(ctx,
		wasmhost.WithCompilationCacheDir(cfg.Wasm.CacheDir),
		wasmhost.WithMemoryLimitPages(uint32(cfg.Wasm.MemoryLimitMB)*16),
		wasmhost.WithMemoryBudget(uint64(cfg.Wasm.MemoryBudgetMB)<<20),
		wasmhost.WithInstanceBudget(cfg.Wasm.MaxInstances),
		wasmhost.WithLogger(g.log))
	if err != nil {
		return nil, fmt.Errorf("gateway: wasm runtime: %w", err)
	}
	if cfg.HTTP.Address != "" {
		// Bound before the tenants are built: their ACME issuers need its port.
		if g.httpLn, err = net.Listen("tcp", cfg.HTTP.Address); err != nil {
			return nil, fmt.Errorf("gateway: http.address: %w", err)
		}
	}
	s, err := g.buildSnapshot(ctx, cfg, nil)
	if err != nil {
		return nil, err
	}
	g.snap.Store(s)
	g.seriesFor(nil, s)
	g.migrateBuckets()
	g.guests.g = g
	g.guests.ensure(s)
	g.certFiles.g = g
	g.certFiles.ensure(s)
	if m := g.acmeNow(); m != nil {
		m.commit(s)
	}
	if cfg.Registry.Enabled {
		g.startRegistry()
		select {
		case <-g.registry.synced:
		case <-time.After(registryStartWait):
			g.log.Warn("the tenant registry could not be read yet; serving without it, it is applied as soon as NATS answers",
				"waited", registryStartWait)
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
	g.stores = newStoreQueue(cfg.StoreQueue.Size, cfg.StoreQueue.PerTenant, cfg.StoreQueue.Workers, cfg.StoreQueue.MaxAge, func(name string) *tenant {
		return g.snap.Load().tenant(name)
	}, g.metrics, g.log)
	for i, lc := range cfg.Listeners {
		ln, err := net.Listen("tcp", lc.Address)
		if err != nil {
			return nil, fmt.Errorf("gateway: listeners[%d].address: %w", i, err)
		}
		l := g.newListener(i, ln, cfg.Limits)
		g.listeners = append(g.listeners, l)
	}
	if cfg.Admin.Address != "off" {
		g.admin, err = g.startAdmin(cfg.Admin, o.version)
		if err != nil {
			return nil, err
		}
	}
	for _, l := range g.listeners {
		l.start()
		g.log.Info("listening", "address", l.ln.Addr().String())
	}
	if g.httpLn != nil {
		g.httpSrv = &http.Server{Handler: g.acmeHTTPHandler(g.Addrs()[0].(*net.TCPAddr).Port),
			ReadHeaderTimeout: cfg.Limits.RequestHeaderTimeout, ReadTimeout: cfg.Limits.RequestReadTimeout,
			IdleTimeout: cfg.Limits.IdleTimeout, MaxHeaderBytes: 16 << 10, ErrorLog: slog.NewLogLogger(g.log.Handler(), slog.LevelDebug)}
		// As many connections as a TLS listener may have: the port is
		// open to the Internet (the CA must reach it).
		go g.httpSrv.Serve(netutil.LimitListener(g.httpLn, cfg.Limits.MaxConnections))
		g.log.Info("listening for ACME HTTP-01 challenges and redirects", "address", g.httpLn.Addr().String())
	}
	return g, nil
}

// migrateBuckets moves, in the background, the sessions of data dirs from
// before the shared sessions bucket (a bucket per tenant) into it, so they
// still resume, and removes the old buckets. See natskv.MigrateBuckets.
func (g *Gateway) migrateBuckets() {
	if g.kv == nil {
		return
	}
	g.retiring.Add(1)
	go func() {
		defer g.retiring.Done()
		// Until the shared bucket is bound (NATS may be down), try again.
		for delay := time.Second; ; delay = min(2*delay, time.Minute) {
			ctx, cancel := context.WithTimeout(g.ctx, time.Minute)
			m, err := g.kv.MigrateBuckets(ctx)
			if err == nil && g.nats != nil {
				// The certificate bucket exists from the start, and one
				// of an earlier version is converted (natskv.CertsKV).
				_, err = g.kv.CertsKV(ctx, true)
			}
			cancel()
			if m.Buckets > 0 {
				g.log.Info("sessions moved from per-tenant buckets to the shared bucket",
					"bucket", natskv.SessionsBucket, "buckets", m.Buckets, "sessions", m.Keys, "expired", m.Expired)
			}
			if err == nil || !errors.Is(err, wasmhost.ErrUnavailable) {
				if err != nil {
					g.log.Warn("preparing the NATS buckets (moving sessions from per-tenant buckets, the certificate bucket)", "err", err)
				}
				return
			}
			select {
			case <-g.ctx.Done():
				return
			case <-time.After(delay):
			}
		}
	}()
}

func (g *Gateway) startNATS(ctx context.Context, cfg *config.Config) error {
	n := cfg.NATS
	copts := []natskv.ClientOption{natskv.WithName("tlsgate"), natskv.WithLogger(g.log)}
	if n.NearCacheMB > 0 {
		copts = append(copts, natskv.WithNearCache(int64(n.NearCacheMB)<<20))
	}
	if n.URL == "" {
		sopts := []natskv.ServerOption{
			natskv.WithDataDir(cfg.DataDir + "/nats"),
			natskv.WithServerLogger(g.log),
		}
		if n.Embedded.Listen != "" {
			sec, err := embeddedSecurity(n.Embedded)
			if err != nil {
				return err
			}
			sopts = append(sopts, natskv.WithClientListen(n.Embedded.Listen))
			sopts = append(sopts, sec...)
			// The server now admits authenticated users only, this
			// process's own client included: it is the server's owner,
			// which creates the buckets the other gateways may not.
			copts = append(copts, natskv.WithNkeySeedFile(n.Embedded.DeployerNkeyFile))
		}
		srv, err := natskv.StartEmbedded(ctx, sopts...)
		if err != nil {
			return fmt.Errorf("gateway: embedded nats: %w", err)
		}
		g.nats = srv
		copts = append(copts, natskv.WithInProcess(srv))
		if srv.ClientURL() != "" {
			g.log.Info("embedded nats listening, NKey authentication required", "url", srv.ClientURL(),
				"gateway_nkey_file", n.Embedded.GatewayNkeyFile, "deployer_nkey_file", n.Embedded.DeployerNkeyFile,
				"tls", n.Embedded.TLS.CertFile != "")
		}
	} else {
		copts = append(copts, natskv.WithURL(n.URL))
		if n.CredsFile != "" {
			copts = append(copts, natskv.WithCredsFile(n.CredsFile))
		}
		if n.NkeyFile != "" {
			copts = append(copts, natskv.WithNkeySeedFile(n.NkeyFile))
		}
		if n.TLS.CAFile != "" || n.TLS.CertFile != "" {
			tc, err := natsTLS(n.TLS)
			if err != nil {
				return err
			}
			copts = append(copts, natskv.WithTLSConfig(tc))
		}
	}
	kv, err := natskv.Connect(ctx, copts...)
	if err != nil {
		return fmt.Errorf("gateway: nats: %w", err)
	}
	g.kv = kv
	// The sessions bucket exists before any tenant needs it (created here
	// by the embedding gateway, looked up by the others), so legacy
	// buckets migrate and joining gateways find it.
	if err := kv.EnsureSessions(ctx, n.Storage, n.Replicas); err != nil {
		return fmt.Errorf("gateway: nats: %w", err)
	}
	return nil
}

// Reload applies cfg (which must have passed Validate) as a whole: the new
// tenants, certificates, guests and keys are built beside the ones serving,
// then swapped in at once, and the old ones drained and closed (tenants
// whose definition is unchanged are kept, not rebuilt). Changes that need a
// restart (listeners, admin, nats, wasm, data_dir, store_queue, limits,
// registry) refuse the reload. On any error nothing changes and the error wraps
// ErrReloadRefused.
func (g *Gateway) Reload(ctx context.Context, cfg *config.Config) error {
	return g.ReloadWith(ctx, func() (*config.Config, error) { return cfg, nil })
}

// ReloadWith is Reload with the configuration read by load (typically
// config.Load of the file), under the reload lock: a configuration that
// does not load (a missing file, a YAML error, an unknown key, an invalid
// value) refuses the reload like one that does not build, and is counted
// in tlsgate_config_reloads_total{result="refused"} the same way.
func (g *Gateway) ReloadWith(ctx context.Context, load func() (*config.Config, error)) error {
	g.reloadMu.Lock()
	defer g.reloadMu.Unlock()
	cfg, err := load()
	if err != nil {
		g.metrics.reloads.WithLabelValues("refused").Inc()
		return refused(err)
	}
	return g.reloadLocked(ctx, cfg)
}

// reloadCurrent rebuilds the configuration in force (to pick up changed
// guest modules). It reads that configuration under the reload lock, so it
// never re-applies one a concurrent Reload has just replaced.
func (g *Gateway) reloadCurrent(ctx context.Context) error {
	g.reloadMu.Lock()
	defer g.reloadMu.Unlock()
	return g.reloadLocked(ctx, g.snap.Load().cfg)
}

func (g *Gateway) reloadLocked(ctx context.Context, cfg *config.Config) error {
	old := g.snap.Load()
	if err := restartOnly(old.cfg, cfg); err != nil {
		g.metrics.reloads.WithLabelValues("refused").Inc()
		return refused(err)
	}
	s, err := g.buildSnapshot(ctx, cfg, old)
	if err != nil {
		if m := g.acmeNow(); m != nil {
			m.commit(old) // what the refused configuration started is stopped
		}
		g.metrics.reloads.WithLabelValues("refused").Inc()
		return refused(err)
	}
	g.snap.Store(s)
	g.seriesFor(old, s)
	g.guests.ensure(s)
	g.certFiles.ensure(s)
	if m := g.acmeNow(); m != nil {
		m.commit(s)
	}
	if g.registry != nil {
		g.registry.retryRefused(s.dropped) // and any refused before: the file may have freed their names
	}
	g.metrics.reloads.WithLabelValues("ok").Inc()
	g.log.Info("configuration reloaded", "tenants", len(s.list))
	g.retire(ctx, old)
	return nil
}

// seriesFor makes the metric series of the tenants s adds to old exist,
// and deletes those of the tenants it dropped.
func (g *Gateway) seriesFor(old, s *snapshot) {
	was := map[string]bool{}
	if old != nil {
		for _, t := range old.list {
			was[t.name] = true
		}
	}
	for _, t := range s.list {
		if !was[t.name] {
			g.metrics.tenantSeries(t.name, t.cfg.MinVersion == "1.3")
		}
		delete(was, t.name)
	}
	for name := range was {
		g.metrics.forgetTenant(name)
	}
}

// reloadError is a refused reload: it wraps ErrReloadRefused and the
// reason, which it names once ("gateway: reload refused: tenants[1]...",
// not "...: gateway: tenants[1]...").
type reloadError struct{ err error }

func refused(err error) error { return &reloadError{err} }

func (e *reloadError) Error() string {
	return ErrReloadRefused.Error() + ": " + strings.TrimPrefix(e.err.Error(), "gateway: ")
}
func (e *reloadError) Unwrap() []error { return []error{ErrReloadRefused, e.err} }

// retire lets go of a snapshot that was replaced, in the background: what
// no newer snapshot shares is drained and closed.
func (g *Gateway) retire(ctx context.Context, old *snapshot) {
	g.retiring.Add(1)
	go func() {
		defer g.retiring.Done()
		if err := old.close(context.WithoutCancel(ctx)); err != nil {
			g.log.Warn("closing the previous configuration", "err", err)
		}
	}()
}

// listenerSockets is what of the listeners only a restart changes: all but
// their client-hello guests, which a reload replaces.
func listenerSockets(ls []config.Listener) []config.Listener {
	out := slices.Clone(ls)
	for i := range out {
		out[i].ClientHello = nil
	}
	return out
}

func restartOnly(old, cur *config.Config) error {
	fields := []struct {
		name     string
		old, cur any
	}{
		{"listeners", listenerSockets(old.Listeners), listenerSockets(cur.Listeners)},
		{"admin", old.Admin, cur.Admin},
		{"http", old.HTTP, cur.HTTP},
		{"nats", old.NATS, cur.NATS},
		{"wasm", old.Wasm, cur.Wasm},
		{"data_dir", old.DataDir, cur.DataDir},
		{"store_queue", old.StoreQueue, cur.StoreQueue},
		{"limits", old.Limits, cur.Limits},
		{"registry", old.Registry, cur.Registry},
	}
	var errs []error
	for _, f := range fields {
		if !reflect.DeepEqual(f.old, f.cur) {
			errs = append(errs, fmt.Errorf("%s: changed, which needs a restart", f.name))
		}
	}
	return errors.Join(errs...)
}

// Addrs returns the listeners' addresses, in configuration order.
func (g *Gateway) Addrs() []net.Addr {
	out := make([]net.Addr, len(g.listeners))
	for i, l := range g.listeners {
		out[i] = l.ln.Addr()
	}
	return out
}

// AdminAddr returns the admin listener's address, or nil when it is off.
func (g *Gateway) AdminAddr() net.Addr {
	if g.admin == nil {
		return nil
	}
	return g.admin.ln.Addr()
}

// NATSURL returns the embedded NATS server's client URL, or "" when it has
// no client port or NATS is external.
func (g *Gateway) NATSURL() string {
	if g.nats == nil {
		return ""
	}
	return g.nats.ClientURL()
}

// Close shuts down gracefully: listeners stop accepting, in-flight requests
// and streams finish, queued stores are flushed, the admin listener stops,
// then guest pools (of this and earlier configurations), the Wasm runtime,
// the NATS client and the embedded NATS server are closed, in that order. When ctx is done first the rest is cut. Safe to call
// twice; the second call returns the first's result.
func (g *Gateway) Close(ctx context.Context) error {
	g.closeOnce.Do(func() {
		// Past the deadline, handshakes and dials still in flight are cut
		// too, not just the streams.
		stop := context.AfterFunc(ctx, g.cancel)
		defer stop()
		g.acmeMu.Lock()
		if g.acme != nil {
			g.acme.cache.Stop() // certmagic's renewal and maintenance
		}
		g.acmeMu.Unlock()
		var errs []error
		var wg sync.WaitGroup
		var cut atomic.Bool
		for _, l := range g.listeners {
			wg.Add(1)
			go func() {
				defer wg.Done()
				if l.shutdown(ctx) != nil {
					cut.Store(true)
				}
			}()
		}
		wg.Wait()
		if cut.Load() {
			errs = append(errs, fmt.Errorf("gateway: requests or streams still running at the shutdown deadline were cut: %w", ctx.Err()))
		}
		if g.stores != nil {
			if err := g.stores.close(ctx); err != nil {
				errs = append(errs, fmt.Errorf("gateway: flushing stores: %w", err))
			}
		}
		if g.admin != nil {
			g.admin.close(ctx)
		}
		if g.httpSrv != nil {
			g.httpSrv.Shutdown(ctx)
		} else if g.httpLn != nil { // New failed before serving it
			g.httpLn.Close()
		}
		g.cancel()
		g.retiring.Wait() // previous snapshots' pools, before the runtime goes
		if s := g.snap.Load(); s != nil {
			errs = append(errs, s.close(context.WithoutCancel(ctx)))
		}
		if g.rt != nil {
			errs = append(errs, g.rt.Close(context.WithoutCancel(ctx)))
		}
		if g.kv != nil {
			errs = append(errs, g.kv.Close(context.WithoutCancel(ctx)))
		}
		if g.nats != nil {
			errs = append(errs, g.nats.Close(context.WithoutCancel(ctx)))
		}
		g.closeErr = errors.Join(errs...)
	})
	return g.closeErr
}

// checkDataDir refuses a data dir that is not a directory, or that other
// users may write to (they could replace the sealing keys, NKey seeds or
// certificate keys it holds; those files themselves are mode 0600, so
// reading the directory gives nothing away). A data dir that does not
// exist yet is fine: it is made with mode 0700.
func checkDataDir(dir string) error {
	fi, err := os.Stat(dir)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return nil
	case err != nil:
		return fmt.Errorf("gateway: data_dir: %w", err)
	case !fi.IsDir():
		return fmt.Errorf("gateway: data_dir: %s is not a directory", dir)
	case fi.Mode().Perm()&0o022 != 0:
		return fmt.Errorf("gateway: data_dir: %s is mode %04o, writable by other users, and it holds keys: chmod 700 %s",
			dir, fi.Mode().Perm(), dir)
	}
	return nil
}

func natsTLS(c config.ClientTLS) (*tls.Config, error) {
	tc := &tls.Config{MinVersion: tls.VersionTLS12}
	if c.CAFile != "" {
		pool, err := loadCertPool(c.CAFile)
		if err != nil {
			return nil, fmt.Errorf("gateway: nats.tls.ca_file: %w", err)
		}
		tc.RootCAs = pool
	}
	if c.CertFile != "" {
		cert, err := tls.LoadX509KeyPair(c.CertFile, c.KeyFile)
		if err != nil {
			return nil, fmt.Errorf("gateway: nats.tls: %w", err)
		}
		tc.Certificates = []tls.Certificate{cert}
	}
	return tc, nil
}
