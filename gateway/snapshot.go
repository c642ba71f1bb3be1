package gateway

import (
	"context"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/tls"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"maps"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/caddyserver/certmagic"

	"github.com/tlsgate/tlsgate/abi"
	"github.com/tlsgate/tlsgate/gateway/config"
	"github.com/tlsgate/tlsgate/gateway/natskv"
	"github.com/tlsgate/tlsgate/guests/prebuilt"
	"github.com/tlsgate/tlsgate/wasmhost"
)

// tenant is one virtual host of a snapshot; immutable once built.
type tenant struct {
	proxied    bool // its upstream is http:// or https:// (tlsgate_upstream_request_duration_seconds)
	name       string
	cfg        config.Tenant
	tlsBase    *tls.Config
	cert       tls.Certificate   // the default one: certs[0]'s
	certs      []loadedCert      // a file tenant's, the default one first; nil for a registry tenant
	certIn     []byte            // certs for a certificate guest (abi.InputCertificates)
	names      []string          // certs' names
	picker     bool              // the guest exports tlsgate_on_certificate
	upSessions *upstreamSessions // an https:// upstream's sessions; else nil
	regCert    *registryCert     // a registry tenant's certificate in NATS, loaded on first use; else nil
	doc        []byte            // a registry tenant's document as the registry holds it; nil for a file tenant
	warnings   []string          // what check warns of (certificates expired, not yet valid, or expiring soon)
	acme       *certmagic.Config // the tenant's certificate is obtained by ACME; nil otherwise
	acmeT      *acmeTenant       // acme's manager entry (acmeManager.commit)
	pool       *wasmhost.Pool    // nil: stateless tickets
	module     *moduleRef
	guest      *guestShare // what owns pool and module; nil without a guest
	policy     sessionPolicy
	handler    http.Handler // http(s) and builtin upstreams
	tcpAddr    string       // tcp upstreams
}

// guestShare is a tenant's guest side (its compiled module, bucket and
// pool), shared by every snapshot whose tenant has the same guest: a reload
// that leaves a tenant's guest as it was keeps its pool, with its warm
// instances, in-flight calls, budgets and breaker, instead of building it
// again. The last snapshot to let go of it closes it.
type guestShare struct {
	pool   *wasmhost.Pool
	module *moduleRef
	cfg    config.Tenant // what it was built from (name, session TTL and guest)
	refs   atomic.Int32
}

// sameGuest reports whether a tenant built from tc may keep the guest side
// built for old: same name, session lifetime and guest settings, and a
// module of the same bytes.
func (gs *guestShare) sameGuest(tc config.Tenant, digest string) bool {
	return gs.cfg.Name == tc.Name && gs.cfg.SessionTTL == tc.SessionTTL &&
		reflect.DeepEqual(gs.cfg.Guest, tc.Guest) && gs.module.digest == digest
}

// release drops one snapshot's hold; the last one closes pool and module.
func (gs *guestShare) release(ctx context.Context) error {
	if gs.refs.Add(-1) > 0 {
		return nil
	}
	return errors.Join(gs.pool.Close(ctx), gs.module.release(ctx))
}

// snapshot is everything a configuration produces that a reload replaces
// as a whole: tenants (of the file and of the registry), their
// certificates, guests and routes, and the sealing keys. Listeners, NATS
// and the Wasm runtime outlive snapshots. A registry change makes a new
// snapshot that shares every unchanged tenant with the one before.
type snapshot struct {
	cfg     *config.Config
	tenants map[string]*tenant
	list    []*tenant // file tenants in configuration order, then registry tenants by name
	reg     map[string]*tenant
	routers []*router     // one per listener, over the tenants it serves
	hellos  []*helloGuest // one per listener: its client-hello guest, or nil
	seal    *sealer

	// While the snapshot is being built: which server names (lowercased,
	// "" for the default) belong to which tenant, and which tenants were
	// built for it (the others are shared with an older snapshot).
	owners map[string]string
	fresh  map[*tenant]bool
	// dropped are the registry documents a file reload had to drop for a
	// clash with the file's tenants: the registry tries them again.
	dropped map[string]natskv.TenantChange
}

func (s *snapshot) tenant(name string) *tenant {
	if s == nil {
		return nil
	}
	return s.tenants[name]
}

// close lets go of the snapshot's guests: pools no newer snapshot shares
// are drained and closed.
func (s *snapshot) close(ctx context.Context) error {
	var errs []error
	for _, t := range s.list {
		if t.guest != nil {
			errs = append(errs, t.guest.release(ctx))
		}
	}
	for _, h := range s.hellos {
		errs = append(errs, h.release(ctx))
	}
	return errors.Join(errs...)
}

// keepHellos gives s old's client-hello guests (the same listeners).
func (s *snapshot) keepHellos(old *snapshot) {
	s.hellos = old.hellos
	for _, h := range s.hellos {
		if h != nil {
			h.refs.Add(1)
		}
	}
}

// claims returns the keys of s.owners that tc would take.
func claims(tc config.Tenant) []string {
	keys := make([]string, 0, len(tc.ServerNames)+1)
	for _, n := range tc.ServerNames {
		keys = append(keys, strings.ToLower(n))
	}
	if tc.Default {
		keys = append(keys, "")
	}
	return keys
}

// add puts t in s, taking its server names.
func (s *snapshot) add(t *tenant, fresh bool) {
	s.tenants[t.name] = t
	if t.doc != nil {
		s.reg[t.name] = t
	}
	for _, k := range claims(t.cfg) {
		s.owners[k] = t.name
	}
	if fresh {
		s.fresh[t] = true
	}
}

// remove takes t out of s, with its server names; a tenant built for s
// is released.
func (s *snapshot) remove(ctx context.Context, t *tenant) {
	delete(s.tenants, t.name)
	delete(s.reg, t.name)
	for _, k := range claims(t.cfg) {
		if s.owners[k] == t.name {
			delete(s.owners, k)
		}
	}
	if s.fresh[t] {
		delete(s.fresh, t)
		if t.guest != nil {
			_ = t.guest.release(ctx)
		}
	}
}

// clash reports why a registry tenant tc cannot join s: its name or one
// of its server names (or being the default) belongs to another tenant.
func (s *snapshot) clash(tc config.Tenant) error {
	if t, ok := s.tenants[tc.Name]; ok && t.doc == nil {
		return fmt.Errorf("gateway: registry tenant %s: the configuration file has a tenant of that name", tc.Name)
	}
	for _, k := range claims(tc) {
		if owner, ok := s.owners[k]; ok && owner != tc.Name {
			if k == "" {
				return fmt.Errorf("gateway: registry tenant %s: default: tenant %s is the default", tc.Name, owner)
			}
			return fmt.Errorf("gateway: registry tenant %s: server name %q is served by tenant %s", tc.Name, k, owner)
		}
		// An exact name routes before a wildcard: a registry tenant may
		// not take a name out of a file tenant's wildcard.
		if _, rest, ok := strings.Cut(k, "."); ok && !strings.HasPrefix(k, "*.") {
			if owner, ok := s.owners["*."+rest]; ok && owner != tc.Name && s.tenants[owner] != nil && s.tenants[owner].doc == nil {
				return fmt.Errorf("gateway: registry tenant %s: server name %q is within %q, served by tenant %s of the configuration file",
					tc.Name, k, "*."+rest, owner)
			}
		}
	}
	return nil
}

// finish lists s's tenants, builds the routers, and takes a hold on every
// guest side s shares with an older snapshot.
func (s *snapshot) finish() {
	s.list = make([]*tenant, 0, len(s.tenants))
	for _, tc := range s.cfg.Tenants {
		s.list = append(s.list, s.tenants[tc.Name])
	}
	for _, name := range slices.Sorted(maps.Keys(s.reg)) {
		s.list = append(s.list, s.reg[name])
	}
	for _, t := range s.list {
		if !s.fresh[t] && t.guest != nil {
			t.guest.refs.Add(1)
		}
	}
	s.owners, s.fresh = nil, nil
	s.routers = nil
	for _, l := range s.cfg.Listeners {
		serve := s.list
		if len(l.Tenants) > 0 {
			serve = nil
			for _, name := range l.Tenants {
				serve = append(serve, s.tenants[name])
			}
		}
		s.routers = append(s.routers, newRouter(serve))
	}
}

func newSnapshot(cfg *config.Config, seal *sealer) *snapshot {
	return &snapshot{cfg: cfg, seal: seal, tenants: map[string]*tenant{}, reg: map[string]*tenant{},
		owners: map[string]string{}, fresh: map[*tenant]bool{}}
}

// buildSnapshot makes a snapshot from cfg beside old, the one serving (nil
// at start). A tenant whose guest is unchanged keeps old's guest side
// (see guestShare); everything else is built anew. On any error in a file
// tenant what it made is closed, old is untouched, and the error names the
// field path. Registry tenants are rebuilt too (a deployed guest may have
// changed); one that no longer builds keeps its version of old, and one
// that now clashes with a file tenant is dropped, both logged and counted.
func (g *Gateway) buildSnapshot(ctx context.Context, cfg *config.Config, old *snapshot) (_ *snapshot, err error) {
	var keys []config.SealingKey
	if !g.dryRun || len(cfg.Sealing.Keys) > 0 {
		var made bool
		keys, made, err = sealingKeys(cfg)
		if made {
			g.log.Info("sealing key generated: every gateway of a fleet needs this file", "file", cfg.Sealing.KeysFile, "id", keys[0].ID)
		}
	} else {
		keys, err = ReadSealingKeys(cfg.Sealing.KeysFile)
		if errors.Is(err, fs.ErrNotExist) { // generated at start
			keys, err = []config.SealingKey{{ID: "check", Key: base64.StdEncoding.EncodeToString(make([]byte, 32))}}, nil
		}
	}
	if err != nil {
		return nil, err
	}
	seal, err := newSealer(keys)
	if err != nil {
		return nil, err
	}
	seal.origin = g.origin
	s := newSnapshot(cfg, seal)
	sources := moduleSources{} // each module read and hashed once per build, however many tenants use it
	var built []*tenant
	defer func() {
		if err != nil {
			(&snapshot{list: built}).close(context.WithoutCancel(ctx))
		}
	}()
	var errs []error // every file tenant that does not build, not just the first
	for i, tc := range cfg.Tenants {
		var prev *tenant
		if t := old.tenant(tc.Name); t != nil && t.doc == nil {
			prev = t
		}
		t, err := g.buildTenant(ctx, cfg, tc, fmt.Sprintf("tenants[%d]", i), prev, sources)
		built = append(built, t) // closed on error with the rest
		if err != nil {
			errs = append(errs, err)
			if ctx.Err() != nil {
				break
			}
			continue
		}
		s.add(t, true)
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	for i, l := range cfg.Listeners {
		h, err := g.buildHello(ctx, cfg, l, i, old, sources)
		if err != nil {
			for _, h := range s.hellos {
				_ = h.release(context.WithoutCancel(ctx))
			}
			return nil, err
		}
		s.hellos = append(s.hellos, h)
	}
	if old != nil {
		for _, name := range slices.Sorted(maps.Keys(old.reg)) {
			ot := old.reg[name]
			if err := s.clash(ot.cfg); err != nil {
				g.metrics.registry.WithLabelValues("refused").Inc()
				g.log.Warn("registry tenant dropped: it clashes with the configuration file", "tenant", name, "err", err)
				if s.dropped == nil {
					s.dropped = map[string]natskv.TenantChange{}
				}
				s.dropped[name] = natskv.TenantChange{Name: name, Doc: ot.doc}
				continue
			}
			t, err := g.buildTenant(ctx, cfg, ot.cfg, registryPath(name), ot, sources)
			if err != nil {
				g.metrics.registry.WithLabelValues("refused").Inc()
				g.log.Warn("registry tenant does not build with this configuration; its previous version keeps serving", "tenant", name, "err", err)
				s.add(ot, false)
				continue
			}
			t.doc = ot.doc
			s.add(t, true)
		}
	}
	s.finish()
	return s, nil
}

// registryPath is the field path of a registry tenant in errors.
func registryPath(name string) string { return "registry[" + name + "]" }

func (g *Gateway) buildTenant(ctx context.Context, cfg *config.Config, tc config.Tenant, path string, old *tenant, sources moduleSources) (*tenant, error) {
	t := &tenant{name: tc.Name, cfg: tc, policy: statelessTickets{}}
	t.tlsBase = &tls.Config{MinVersion: tls.VersionTLS12}
	if tc.Certificate.ACME != nil {
		if g.dryRun {
			if err := checkChallenges(*tc.Certificate.ACME, g.challengePorts(cfg)); err != nil {
				return t, fmt.Errorf("gateway: %s.certificate.acme: %w", path, err)
			}
		} else {
			m, err := g.acmeManager(ctx)
			if err == nil {
				t.acmeT, err = m.tenant(tc, g.challengePorts(cfg))
			}
			if err == nil {
				t.acme = t.acmeT.cm
			}
			if err != nil {
				return t, fmt.Errorf("gateway: %s.certificate.acme: %w", path, err)
			}
		}
	} else if digest := tc.Certificate.NATS; digest != "" {
		// In NATS: loaded on the first handshake for one of its names.
		t.regCert = &registryCert{tenant: tc.Name, digest: digest}
		if old != nil && old.regCert != nil && old.regCert.digest == digest {
			t.regCert = old.regCert
		}
	} else if err := g.tenantCertificates(t, cfg.DataDir, path, old); err != nil {
		return t, err
	}
	if tc.MinVersion == "1.3" {
		t.tlsBase.MinVersion = tls.VersionTLS13
	}
	t.tlsBase.CurvePreferences = config.CurveIDs(tc.CurvePreferences)
	switch {
	case tc.Upstream == config.BuiltinUpstream:
		t.handler = builtinPage(tc.Name)
		t.tlsBase.NextProtos = []string{"h2", "http/1.1"}
	case strings.HasPrefix(tc.Upstream, "tcp://"):
		t.tcpAddr = strings.TrimPrefix(tc.Upstream, "tcp://")
		t.tlsBase.NextProtos = tc.ALPN
	default:
		u, err := url.Parse(tc.Upstream)
		if err != nil {
			return t, fmt.Errorf("gateway: %s.upstream: %w", path, err)
		}
		var tlsConf *tls.Config
		if u.Scheme == "https" {
			t.upSessions = &upstreamSessions{tenant: tc.Name, upstream: upstreamName(u), ttl: tc.SessionTTL,
				local: tls.NewLRUClientSessionCache(upstreamLocalSessions), seal: g.currentSealer,
				inFlight: make(chan struct{}, upstreamStoresInFlight), m: g.metrics, log: g.log}
			if tc.Guest != nil { // the deadlines of its calls; without a guest there are none
				t.upSessions.fetchFor, t.upSessions.storeFor = tc.Guest.FetchDeadline, tc.Guest.StoreDeadline
			}
			if tlsConf, err = upstreamTLS(tc.UpstreamCAFile, t.upSessions); err != nil {
				return t, fmt.Errorf("gateway: %s.upstream_ca_file: %w", path, err)
			}
		}
		t.handler, t.proxied = newReverseProxy(tc.Name, u, tlsConf, cfg.Limits, g.metrics, g.log), true
		t.tlsBase.NextProtos = []string{"h2", "http/1.1"}
	}
	if tc.Certificate.ACME != nil {
		t.tlsBase.NextProtos = append(slices.Clone(t.tlsBase.NextProtos), acmeProtocol)
		if t.acme != nil { // nil in a dry run
			// The challenge certificate for a TLS-ALPN-01 validation, else
			// the tenant's certificate (a failed handshake until the first
			// one is obtained).
			t.tlsBase.GetCertificate = acmeGetCertificate(t.acme)
		}
	}
	if tc.Guest == nil {
		return t, nil
	}
	gp := path + ".guest"
	if g.dryRun && strings.HasPrefix(tc.Guest.Module, config.NATSModulePrefix) {
		return t, nil // in NATS, which a dry run does not reach
	}
	src, err := sources.get(ctx, g, tc.Guest.Module)
	if err != nil {
		return t, fmt.Errorf("gateway: %s.module: %w", gp, err)
	}
	wasm, name := src.wasm, src.name
	if old != nil && old.guest != nil && old.guest.sameGuest(tc, src.digest) {
		old.guest.refs.Add(1)
		t.guest, t.pool, t.module = old.guest, old.guest.pool, old.guest.module
		t.setGuestPolicy()
		return t, nil
	}
	module, err := g.modules.get(ctx, g.rt, name, wasm, src.digest)
	if err != nil {
		return t, fmt.Errorf("gateway: %s.module: %w", gp, err)
	}
	t.module = module
	defer func() {
		if t.pool == nil { // not built: the module goes back
			_ = module.release(context.WithoutCancel(ctx))
			t.module = nil
		}
	}()
	if !t.module.mod.HasFetch() && (t.module.mod.HasStore() || !t.module.mod.Has(abi.CallCertificate)) {
		g.log.Warn("guest exports no fetch: this tenant never resumes", "tenant", tc.Name, "module", name)
	}
	var kv wasmhost.KV
	if g.kv != nil {
		b, err := g.kv.Bucket(ctx, tc.Name,
			natskv.WithTTL(tc.SessionTTL), natskv.WithStorage(cfg.NATS.Storage), natskv.WithReplicas(cfg.NATS.Replicas),
			natskv.WithQuota(tc.Guest.KVMaxBytes, tc.Guest.KVMaxEntries))
		if err != nil {
			return t, fmt.Errorf("gateway: %s: key-value bucket: %w", path, err)
		}
		kv = b
	}
	// Pools are lazy (a quiet tenant holds no instance). The first tenant of
	// each module and guest config starts one instance up front: a guest
	// that does not start is refused at load, and that tenant is warm.
	probed, perr := module.probed(tc.Guest.Config)
	if probed && perr != nil {
		return t, fmt.Errorf("gateway: %s: %w", gp, perr)
	}
	prewarm := 1
	if probed {
		prewarm = 0
	}
	callCap := max(tc.Guest.FetchDeadline, tc.Guest.StoreDeadline, tc.Guest.CertificateDeadline)
	share, err := module.share(tc.Guest.Config)
	if err != nil {
		return t, fmt.Errorf("gateway: %s: %w", gp, err)
	}
	t.pool, err = wasmhost.NewPool(ctx, t.module.mod,
		wasmhost.WithShare(share), // used only by a guest that exports tlsgate_shared_instances
		wasmhost.WithMinIdle(0), wasmhost.WithPrewarm(prewarm),
		wasmhost.WithTenant(tc.Name),
		wasmhost.WithGuestConfig([]byte(tc.Guest.Config)),
		wasmhost.WithKV(kv),
		wasmhost.WithMaxInstances(tc.Guest.MaxInstances),
		wasmhost.WithCallTimeout(callCap),
		wasmhost.WithWriteBudget(tc.Guest.KVWriteBytesPerCall, tc.Guest.KVWriteBytesPerSecond),
		wasmhost.WithCPUBudget(tc.Guest.CPUBudget),
		// suspend_after_faults -1 (never) is wasmhost's 0.
		wasmhost.WithFaultSuspension(max(tc.Guest.SuspendAfterFaults, 0), time.Second, time.Minute),
		wasmhost.WithPoolLogger(g.log), // wasmhost adds tenant and module
		wasmhost.WithObserver(g.metrics))
	if !probed && ctx.Err() == nil { // a start cut short by the caller says nothing of the guest
		module.setProbed(tc.Guest.Config, err)
	}
	if err != nil {
		t.pool = nil
		return t, fmt.Errorf("gateway: %s: %w", gp, err)
	}
	t.guest = &guestShare{pool: t.pool, module: t.module, cfg: tc}
	t.setGuestPolicy()
	t.guest.refs.Store(1)
	return t, nil
}

// setGuestPolicy wires the tenant's guest hooks: its sessions through the
// guest if it exports a session hook (else stateless tickets, for a guest
// that only chooses certificates), and its certificate choice.
func (t *tenant) setGuestPolicy() {
	m := t.module.mod
	if m.HasFetch() || m.HasStore() {
		t.policy = newGuestSessions(t.pool, m)
	}
	t.picker = m.Has(abi.CallCertificate)
	if t.upSessions != nil {
		t.upSessions.use(t.pool, m.Has(abi.CallUpstreamFetch), m.Has(abi.CallUpstreamStore))
	}
}

// currentSealer is the sealer of the snapshot serving now.
func (g *Gateway) currentSealer() *sealer { return g.snap.Load().seal }

// loadedCert is one of a file tenant's certificates, as a build read it.
type loadedCert struct {
	name  string
	cfg   config.Certificate
	cert  tls.Certificate
	stamp string // of its files when cert was read (certStamp)
}

// tenantCertificates loads a file tenant's certificates into t, the
// default one first, and encodes them for a certificate guest.
func (g *Gateway) tenantCertificates(t *tenant, dataDir, path string, old *tenant) error {
	tc := t.cfg
	specs := make([]config.NamedCertificate, 0, 1+len(tc.Certificates))
	specs = append(specs, config.NamedCertificate{Name: config.DefaultCertificateName, Certificate: tc.Certificate})
	specs = append(specs, tc.Certificates...)
	info := make([]wasmhost.CertificateInfo, 0, len(specs))
	for i, s := range specs {
		at := path + ".certificate"
		if i > 0 {
			at = fmt.Sprintf("%s.certificates[%d]", path, i-1)
		}
		lc, err := g.tenantCertificate(dataDir, tc, s.Name, s.Certificate, at, old)
		if err != nil {
			return err
		}
		if leaf := lc.cert.Leaf; leaf != nil && !s.SelfSigned {
			if !s.SkipNameCheck {
				if err := certNamesCover(leaf, tc.ServerNames, i == 0); err != nil {
					return fmt.Errorf("gateway: %s: %w (skip_name_check: true serves it anyway)", at, err)
				}
			}
			for _, w := range certValidityWarnings(leaf, time.Now()) {
				t.warnings = append(t.warnings, at+": "+w)
				if !g.dryRun {
					g.log.Warn("certificate "+w, "tenant", tc.Name, "certificate", s.Name, "at", at)
				}
			}
		}
		t.certs = append(t.certs, lc)
		if lc.cert.Certificate != nil { // a dry run leaves a missing self-signed one out
			t.tlsBase.Certificates = append(t.tlsBase.Certificates, lc.cert)
		}
		info = append(info, wasmhost.CertificateInfo{Name: s.Name, Key: keyType(lc.cert)})
	}
	t.cert = t.certs[0].cert
	t.names = t.certNames()
	var err error
	if t.certIn, err = wasmhost.EncodeCertificates(info); err != nil {
		return fmt.Errorf("gateway: %s.certificates: %w", path, err)
	}
	return nil
}

// tenantCertificate returns the tenant's certificate c named name, reusing
// old's when its settings are the same and its files have not changed since
// old read them (same size and modification time), so a reload of many
// tenants reads only the certificates that changed.
func (g *Gateway) tenantCertificate(dataDir string, tc config.Tenant, name string, c config.Certificate, path string, old *tenant) (loadedCert, error) {
	lc := loadedCert{name: name, cfg: c}
	files := certFiles(dataDir, tc, name, c)
	if g.dryRun && c.SelfSigned {
		// Generated (written) at start when missing or stale; check reads
		// it only if it is there and fits.
		if cert, err := tls.LoadX509KeyPair(files[0], files[1]); err == nil && certFits(cert, selfSignedNames(tc), c.KeyType) {
			lc.cert = cert
		}
		return lc, nil
	}
	if o := old.loaded(name); o != nil && o.stamp != "" && o.cfg == c &&
		(!c.SelfSigned || slices.Equal(old.cfg.ServerNames, tc.ServerNames)) &&
		o.cert.Leaf != nil && time.Until(o.cert.Leaf.NotAfter) > 24*time.Hour &&
		certStamp(files) == o.stamp {
		return *o, nil
	}
	cert, made, err := loadCertificate(dataDir, tc, name, c, path)
	if made {
		g.log.Info("self-signed certificate generated", "tenant", tc.Name, "certificate", name, "names", selfSignedNames(tc), "file", certFiles(dataDir, tc, name, c)[0])
	}
	if err != nil {
		return lc, err
	}
	lc.cert, lc.stamp = cert, certStamp(files)
	return lc, nil
}

// loaded returns t's certificate of that name, or nil (also for a nil t).
func (t *tenant) loaded(name string) *loadedCert {
	if t == nil {
		return nil
	}
	for i := range t.certs {
		if t.certs[i].name == name {
			return &t.certs[i]
		}
	}
	return nil
}

// keyType is cert's key algorithm as a certificate guest reads it.
func keyType(cert tls.Certificate) abi.KeyType {
	switch cert.PrivateKey.(type) {
	case *ecdsa.PrivateKey:
		return abi.KeyECDSA
	case *rsa.PrivateKey:
		return abi.KeyRSA
	case ed25519.PrivateKey:
		return abi.KeyEd25519
	}
	return abi.KeyOther
}

// certStamp describes files by size and modification time ("" if one is
// missing).
func certStamp(files []string) string {
	var b strings.Builder
	for _, f := range files {
		fi, err := os.Stat(f)
		if err != nil {
			return ""
		}
		fmt.Fprintf(&b, "%s|%d|%d;", f, fi.Size(), fi.ModTime().UnixNano())
	}
	return b.String()
}

// moduleDigest names a module by its bytes, as moduleCache does.
func moduleDigest(wasm []byte) string {
	sum := sha256.Sum256(wasm)
	return hex.EncodeToString(sum[:])
}

// moduleSource is a guest module as one build read it.
type moduleSource struct {
	wasm   []byte
	name   string
	digest string
}

// moduleSources reads each guest module (a file, the built-in guest, or a
// deployed module) once per build and hashes it once: ten thousand tenants
// of one 2 MiB guest are one read and one hash, not ten thousand.
type moduleSources map[string]*moduleSource

func (m moduleSources) get(ctx context.Context, g *Gateway, module string) (*moduleSource, error) {
	if src, ok := m[module]; ok {
		return src, nil
	}
	var src moduleSource
	var err error
	if objName, ok := strings.CutPrefix(module, config.NATSModulePrefix); ok {
		src.name = module
		src.wasm, err = g.kv.GuestModule(ctx, objName)
	} else {
		src.wasm, src.name, err = guestBytes(module)
	}
	if err != nil {
		return nil, err
	}
	src.digest = moduleDigest(src.wasm)
	m[module] = &src
	return &src, nil
}

// guestBytes reads a guest module: a file, or the embedded reference guest.
// Modules deployed in NATS ("nats:<name>") are read by buildTenant.
func guestBytes(module string) (wasm []byte, name string, err error) {
	switch module {
	case config.BuiltinSessionCache:
		return prebuilt.SessionCacheAS, module, nil
	case config.BuiltinSessionCacheGo:
		return prebuilt.SessionCache, module, nil
	}
	b, err := os.ReadFile(module)
	if err != nil {
		return nil, "", err
	}
	return b, filepath.Base(module), nil
}

// moduleCache shares compiled modules between snapshots by content digest,
// so a reload that keeps a guest does not recompile it, and closes a module
// when the last snapshot using it is closed.
type moduleCache struct {
	mu   sync.Mutex
	mods map[string]*moduleRef
}

type moduleRef struct {
	cache  *moduleCache
	digest string
	mod    *wasmhost.Module
	refs   int
	// starts holds, per guest config, how starting an instance went (under
	// cache.mu): each module and config is started once up front, not once
	// per tenant, and the tenants' pools are lazy.
	starts map[string]error
	// shares holds, per guest config, the idle instances the tenants of a
	// guest that allows it (wasmhost.Share) draw on (under cache.mu).
	shares map[string]*wasmhost.Share
}

// share returns the Share of the module's tenants with guestConfig.
func (r *moduleRef) share(guestConfig string) (*wasmhost.Share, error) {
	r.cache.mu.Lock()
	defer r.cache.mu.Unlock()
	if s, ok := r.shares[guestConfig]; ok {
		return s, nil
	}
	s, err := wasmhost.NewShare(r.mod, []byte(guestConfig))
	if err != nil {
		return nil, err
	}
	if r.shares == nil {
		r.shares = map[string]*wasmhost.Share{}
	}
	r.shares[guestConfig] = s
	return s, nil
}

// get returns the compiled module of wasm, whose moduleDigest is digest.
func (c *moduleCache) get(ctx context.Context, rt *wasmhost.Runtime, name string, wasm []byte, digest string) (*moduleRef, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if r, ok := c.mods[digest]; ok {
		r.refs++
		return r, nil
	}
	m, err := rt.Compile(ctx, name, wasm)
	if err != nil {
		return nil, err
	}
	if err := hasTenantHook(m); err != nil {
		_ = m.Close(context.WithoutCancel(ctx))
		return nil, err
	}
	if c.mods == nil {
		c.mods = map[string]*moduleRef{}
	}
	r := &moduleRef{cache: c, digest: digest, mod: m, refs: 1}
	c.mods[digest] = r
	return r, nil
}

// hasTenantHook refuses, as a tenant's guest, a module that exports none
// of a tenant's hooks (one made for a listener's client-hello hook, say).
func hasTenantHook(m *wasmhost.Module) error {
	var names []string
	for _, k := range []abi.CallKind{abi.CallFetch, abi.CallStore, abi.CallCertificate, abi.CallUpstreamFetch, abi.CallUpstreamStore} {
		if m.Has(k) {
			return nil
		}
		names = append(names, abi.HookFor(k).Export)
	}
	return fmt.Errorf("module %q: %w: exports none of a tenant's hooks %q", m.Name(), wasmhost.ErrInvalidModule, names)
}

// sharedIdle returns the idle instances of the shares of modules that
// allow sharing, by module name.
func (c *moduleCache) sharedIdle() map[string]int {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := map[string]int{}
	for _, r := range c.mods {
		if !r.mod.SharedInstances() {
			continue
		}
		for _, s := range r.shares {
			out[r.mod.Name()] += s.Idle()
		}
	}
	return out
}

// probed returns whether an instance of the module was started with
// guestConfig, and how that went.
func (r *moduleRef) probed(guestConfig string) (bool, error) {
	r.cache.mu.Lock()
	defer r.cache.mu.Unlock()
	err, ok := r.starts[guestConfig]
	return ok, err
}

// setProbed records how starting an instance with guestConfig went.
func (r *moduleRef) setProbed(guestConfig string, err error) {
	r.cache.mu.Lock()
	defer r.cache.mu.Unlock()
	if r.starts == nil {
		r.starts = map[string]error{}
	}
	r.starts[guestConfig] = err
}

func (r *moduleRef) release(ctx context.Context) error {
	r.cache.mu.Lock()
	r.refs--
	last := r.refs == 0
	if last {
		delete(r.cache.mods, r.digest)
	}
	shares := r.shares
	if last {
		r.shares = nil
	}
	r.cache.mu.Unlock()
	if last {
		var errs []error
		for _, sh := range shares {
			errs = append(errs, sh.Close(ctx))
		}
		return errors.Join(append(errs, r.mod.Close(ctx))...)
	}
	return nil
}
