package gateway

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"maps"
	"net"
	"net/http"
	"os"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"sync"

	"github.com/caddyserver/certmagic"
	"github.com/mholt/acmez/v3"
	"go.uber.org/zap"
	"golang.org/x/time/rate"

	"github.com/tlsgate/tlsgate/abi"
	"github.com/tlsgate/tlsgate/gateway/config"
	"github.com/tlsgate/tlsgate/gateway/natskv"
	"github.com/tlsgate/tlsgate/wasmhost"
)

// acmeProtocol is the ALPN protocol of TLS-ALPN-01 challenges (RFC 8737):
// an ACME tenant's listener offers it, and a connection that negotiated it
// is closed after the handshake.
const acmeProtocol = acmez.ACMETLS1Protocol

// acmeManager obtains and renews the certificates of the tenants with
// certificate.acme, through certmagic, with one certificate store for the
// fleet in NATS (natskv.CertStorage): the gateway that takes a name's lock
// obtains its certificate, and every gateway of the fleet loads it from
// there. TLS-ALPN-01 challenges are answered by the tenants' own listeners
// (the CA connects to the name on the listener's port; certmagic's
// GetCertificate serves the challenge certificate), so no other port is
// needed.
type acmeManager struct {
	g       *Gateway
	cache   *certmagic.Cache
	storage *natskv.CertStorage

	build   sync.Mutex             // one tenant configuration made at a time
	mu      sync.Mutex             // guards configs and pending
	configs map[string]*acmeTenant // in force, by tenant name
	pending []*acmeTenant          // made for a snapshot not swapped in yet (commit)
}

// acmeTenant is one tenant's certmagic configuration and what it manages.
type acmeTenant struct {
	name     string
	settings config.ACME
	names    []string
	cm       *certmagic.Config
	issuer   *certmagic.ACMEIssuer // answers its HTTP-01 challenges (acmeHTTPHandler)
	stop     context.CancelFunc    // ends its obtaining and retries once replaced or gone
}

// acmeRenewCheck is how often certmagic looks for certificates to renew
// (a third of their lifetime before they end); tests shorten it.
var acmeRenewCheck = certmagic.DefaultRenewCheckInterval

// acme returns the gateway's ACME manager, made on first use: it needs
// NATS (the certificate bucket; the embedding gateway creates it).
func (g *Gateway) acmeManager(ctx context.Context) (*acmeManager, error) {
	g.acmeMu.Lock()
	defer g.acmeMu.Unlock()
	if g.acme != nil {
		return g.acme, nil
	}
	if g.kv == nil {
		return nil, fmt.Errorf("ACME certificates are kept in NATS, which this gateway does not use")
	}
	// The gateway that embeds NATS is a deployer there and creates the
	// bucket (at start, see migrateBuckets); others find it.
	kv, err := g.kv.CertsKV(ctx, g.nats != nil)
	if err != nil {
		return nil, fmt.Errorf("the fleet's certificate bucket %s: %w", natskv.CertsBucket, err)
	}
	m := &acmeManager{g: g, configs: map[string]*acmeTenant{}}
	m.storage = natskv.NewCertStorage(kv, certSealer{g.currentSealer}, lockOwner(g.origin), 0)
	m.cache = certmagic.NewCache(certmagic.CacheOptions{
		GetConfigForCert: func(c certmagic.Certificate) (*certmagic.Config, error) {
			if at := m.forNames(c.Names); at != nil {
				return at.cm, nil
			}
			return nil, fmt.Errorf("no ACME tenant serves %v", c.Names)
		},
		RenewCheckInterval: acmeRenewCheck,
		Logger:             zap.NewNop(),
	})
	g.acme = m
	return m, nil
}

// lockOwner names this gateway in the ACME locks it holds, for an operator
// reading them: host, process and the gateway's identifier origin.
func lockOwner(origin byte) string {
	host, _ := os.Hostname()
	return fmt.Sprintf("%s/pid %d/origin %02x", host, os.Getpid(), origin)
}

// acmeNow is the ACME manager if one was made, else nil.
func (g *Gateway) acmeNow() *acmeManager {
	g.acmeMu.Lock()
	defer g.acmeMu.Unlock()
	return g.acme
}

// forNames returns the tenant configuration managing any of names.
func (m *acmeManager) forNames(names []string) *acmeTenant {
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, at := range m.configs {
		for _, want := range names {
			// An on-demand certificate's name is under a wildcard one.
			if slices.Contains(at.names, want) || nameMatches(at.names, want, true) {
				return at
			}
		}
	}
	return nil
}

// acmePorts are the ports the CA validates challenges on: the tenant
// listener's (TLS-ALPN-01) and the http listener's (HTTP-01; 0 without
// one, -1 for one not bound yet in a dry run).
type acmePorts struct{ tls, http int }

// challengesFor returns the challenge types a tenant's ACME settings
// enable, with http listening for HTTP-01 or not (see config.ACME).
func challengesFor(a config.ACME, http bool) []string {
	switch {
	case len(a.Challenges) > 0:
		return a.Challenges
	case a.DNS != nil:
		return []string{config.ChallengeDNS}
	case http:
		return []string{config.ChallengeTLSALPN, config.ChallengeHTTP}
	}
	return []string{config.ChallengeTLSALPN}
}

// checkChallenges refuses challenge types this gateway cannot answer.
func checkChallenges(a config.ACME, ports acmePorts) error {
	ch := challengesFor(a, ports.http != 0)
	if slices.Contains(ch, config.ChallengeHTTP) && ports.http == 0 {
		return fmt.Errorf("challenges: http-01 needs the gateway's http listener (http.address)")
	}
	if slices.Contains(ch, config.ChallengeDNS) {
		if _, err := dnsProvider(*a.DNS); err != nil {
			return fmt.Errorf("dns.provider: %w", err)
		}
	}
	return nil
}

// tenant returns the ACME configuration of tenant tc, starting to manage
// its names (obtaining a certificate in the background if the fleet's
// store has none, renewing it before it ends). The same settings and names
// keep the configuration already in force. A new one takes over only when
// the snapshot holding it is swapped in (commit): a refused reload changes
// nothing.
func (m *acmeManager) tenant(tc config.Tenant, ports acmePorts) (*acmeTenant, error) {
	a := *tc.Certificate.ACME
	if err := checkChallenges(a, ports); err != nil {
		return nil, err
	}
	m.build.Lock()
	defer m.build.Unlock()
	m.mu.Lock()
	prev := m.configs[tc.Name]
	m.mu.Unlock()
	if prev != nil && sameACME(prev.settings, a) && slices.Equal(prev.names, tc.ServerNames) {
		return prev, nil
	}
	var roots *x509.CertPool
	if a.CARootFile != "" {
		pem, err := os.ReadFile(a.CARootFile)
		if err != nil {
			return nil, err
		}
		roots = x509.NewCertPool()
		if !roots.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("ca_root_file %s holds no PEM certificate", a.CARootFile)
		}
	}
	challenges := challengesFor(a, ports.http != 0)
	cm := certmagic.New(m.cache, certmagic.Config{Storage: m.storage, Logger: zap.NewNop()})
	issuer := certmagic.NewACMEIssuer(cm, certmagic.ACMEIssuer{
		CA: a.CA, Email: a.Email, Agreed: true, TrustedRoots: roots,
		DisableTLSALPNChallenge: !slices.Contains(challenges, config.ChallengeTLSALPN),
		DisableHTTPChallenge:    !slices.Contains(challenges, config.ChallengeHTTP),
		// certmagic would start challenge listeners of its own on these
		// addresses if they were free; the ports are the gateway's, so
		// it finds them taken and leaves the challenges to the tenant's
		// GetCertificate (TLS-ALPN-01) and acmeHTTPHandler (HTTP-01).
		// Either answers a challenge another gateway of the fleet
		// started: certmagic keeps them in the storage.
		ListenHost: "127.0.0.1", AltTLSALPNPort: ports.tls, AltHTTPPort: ports.http,
		Logger: zap.NewNop(),
	})
	if slices.Contains(challenges, config.ChallengeDNS) {
		p, err := dnsProvider(*a.DNS)
		if err != nil {
			return nil, fmt.Errorf("dns.provider: %w", err)
		}
		wait := a.DNS.PropagationTimeout
		if wait < 0 {
			wait = -1 // certmagic's "no check"
		}
		issuer.DNS01Solver = &certmagic.DNS01Solver{DNSManager: certmagic.DNSManager{
			DNSProvider: p, Resolvers: a.DNS.Resolvers, PropagationTimeout: wait, Logger: zap.NewNop()}}
	}
	cm.Issuers = []certmagic.Issuer{issuer}
	var managed []string
	for _, n := range tc.ServerNames {
		// A wildcard name is obtained as such with DNS-01; otherwise
		// on demand, a certificate per name under it.
		if !strings.HasPrefix(n, "*.") || issuer.DNS01Solver != nil {
			managed = append(managed, n)
		}
	}
	if o := a.OnDemand; o != nil {
		stored := func(ctx context.Context, name string) bool {
			return m.storage.Exists(ctx, certmagic.StorageKeys.SiteCert(issuer.IssuerKey(), name))
		}
		cm.OnDemand = &certmagic.OnDemandConfig{DecisionFunc: onDemandPolicy(tc.ServerNames, o, stored, m.g.guestDecides(tc.Name), m.g.metrics, tc.Name)}
	}
	ctx, stop := context.WithCancel(m.g.ctx)
	at := &acmeTenant{name: tc.Name, settings: a, names: append([]string(nil), tc.ServerNames...), cm: cm, issuer: issuer, stop: stop}
	if len(managed) > 0 {
		if err := cm.ManageAsync(ctx, managed); err != nil {
			stop()
			return nil, err
		}
	}
	m.mu.Lock()
	m.pending = append(m.pending, at)
	m.mu.Unlock()
	return at, nil
}

// challengePorts are cfg's challenge ports: the first listener's as
// configured (the CA connects to 443 in production), and the port the
// http listener is bound to.
func (g *Gateway) challengePorts(cfg *config.Config) acmePorts {
	p := acmePorts{tls: 443}
	if len(cfg.Listeners) > 0 {
		if _, port, err := net.SplitHostPort(cfg.Listeners[0].Address); err == nil {
			p.tls, _ = strconv.Atoi(port)
		}
	}
	switch {
	case g.httpLn != nil:
		p.http = g.httpLn.Addr().(*net.TCPAddr).Port
	case cfg.HTTP.Address != "": // a dry run: not bound, but it will be
		p.http = -1
	}
	return p
}

// forHost returns the tenant configuration whose names include host (an
// exact name, or one a wildcard name matches).
func (m *acmeManager) forHost(host string) *acmeTenant {
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, at := range m.configs {
		if slices.Contains(at.names, host) || nameMatches(at.names, host, true) {
			return at
		}
	}
	return nil
}

// acmeHTTPHandler serves the http listener: HTTP-01 challenges of the ACME
// tenant whose names include the request's host (from the fleet's storage,
// so a challenge another gateway started is answered too), and for every
// other request a permanent redirect to https:// on tlsPort (443 is left
// out of the URL).
func (g *Gateway) acmeHTTPHandler(tlsPort int) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		host := r.Host
		if h, _, err := net.SplitHostPort(host); err == nil {
			host = h
		}
		host = strings.ToLower(host)
		if certmagic.LooksLikeHTTPChallenge(r) {
			if m := g.acmeNow(); m != nil {
				if at := m.forHost(host); at != nil && at.issuer.HandleHTTPChallenge(w, r) {
					return
				}
			}
			http.NotFound(w, r)
			return
		}
		// Only to a name a tenant serves (not its default-tenant fallback):
		// the redirect must not send a client to any host it names.
		t, err := g.snap.Load().routers[0].route(host)
		if err != nil || t == nil || checkSNI(host) != nil || !(slices.Contains(t.cfg.ServerNames, host) || nameMatches(t.cfg.ServerNames, host, true)) {
			http.Error(w, "no tenant serves this host", http.StatusMisdirectedRequest)
			return
		}
		target := "https://" + host
		if tlsPort != 443 {
			target += ":" + strconv.Itoa(tlsPort)
		}
		http.Redirect(w, r, target+r.URL.RequestURI(), http.StatusPermanentRedirect)
	})
}

// DNSProviderFunc makes a DNS-01 provider from a tenant's
// certificate.acme.dns.settings; it returns an error naming a setting
// that is missing or wrong.
type DNSProviderFunc func(settings map[string]string) (certmagic.DNSProvider, error)

var (
	dnsProvidersMu sync.Mutex
	dnsProviders   = map[string]DNSProviderFunc{}
)

// RegisterDNSProvider makes a DNS provider (a libdns implementation, for
// example) available to tenants' certificate.acme.dns.provider under name.
// It is the extension point for DNS-01: tlsgate's own build registers
// none, and a build that needs one adds a file to cmd/tlsgate calling this
// from init (docs/operations.md). Registering a name twice panics.
func RegisterDNSProvider(name string, f DNSProviderFunc) {
	dnsProvidersMu.Lock()
	defer dnsProvidersMu.Unlock()
	if _, dup := dnsProviders[name]; dup {
		panic("gateway: DNS provider " + name + " registered twice")
	}
	dnsProviders[name] = f
}

// dnsProvider makes the provider d names.
func dnsProvider(d config.DNSChallenge) (certmagic.DNSProvider, error) {
	dnsProvidersMu.Lock()
	f := dnsProviders[d.Provider]
	names := slices.Sorted(maps.Keys(dnsProviders))
	dnsProvidersMu.Unlock()
	if f == nil {
		built := "none: see docs/operations.md to add one"
		if len(names) > 0 {
			built = strings.Join(names, ", ")
		}
		return nil, fmt.Errorf("%q is not a DNS provider of this build (built in: %s)", d.Provider, built)
	}
	p, err := f(d.Settings)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", d.Provider, err)
	}
	return p, nil
}

// commit puts in force the ACME configurations of the tenants of s, the
// snapshot now serving (or, after a refused reload, the one still
// serving): those it replaced or no longer has are stopped (their
// obtaining and retries end, and certmagic no longer renews them: it finds
// no configuration for them), and so are those made for a snapshot that
// was never swapped in.
func (m *acmeManager) commit(s *snapshot) {
	keep := map[string]*acmeTenant{}
	for _, t := range s.list {
		if t.acmeT != nil {
			keep[t.name] = t.acmeT
		}
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	for name, at := range m.configs {
		if keep[name] != at {
			at.stop()
			delete(m.configs, name)
		}
	}
	for name, at := range keep {
		m.configs[name] = at
	}
	for _, at := range m.pending {
		if keep[at.name] != at {
			at.stop()
		}
	}
	m.pending = nil
}

// sameACME reports whether two tenants' ACME settings are the same.
func sameACME(a, b config.ACME) bool { return reflect.DeepEqual(a, b) }

// onDemandPolicy decides whether name may be issued during a handshake: a
// tenant's wildcard server name must match it, so must an entry of the
// allow list, the tenant's guest must not refuse it (guest: its
// certificate hook, asked about the handshake), and the tenant's rate must
// not be spent; every decision is counted in
// tlsgate_acme_on_demand_total{tenant,decision}.
//
// The guest and the rate are asked only about names the fleet's store has
// no certificate for: certmagic asks this before it loads one (another
// gateway may have obtained it) and before each renewal, which must never
// be refused. The rate is counted per gateway: a fleet of N asks the CA up
// to N times the rate.
func onDemandPolicy(serverNames []string, o *config.OnDemand, stored func(context.Context, string) bool,
	guest func(context.Context) bool, m *metrics, tenant string) func(context.Context, string) error {
	limit := rate.NewLimiter(rate.Limit(float64(o.PerMinute)/60), o.Burst)
	return func(ctx context.Context, name string) error {
		name = strings.ToLower(strings.TrimSuffix(name, "."))
		decision := "issued"
		var err error
		switch {
		case !nameMatches(serverNames, name, true):
			decision, err = "not_served", fmt.Errorf("%q is none of tenant %s's wildcard names", name, tenant)
		case !nameMatches(o.Allow, name, false):
			decision, err = "not_allowed", fmt.Errorf("%q is not in tenant %s's on_demand.allow", name, tenant)
		case stored(ctx, name):
			decision = "stored"
		case !guest(ctx):
			decision, err = "guest_refused", fmt.Errorf("tenant %s's guest refused to issue %q", tenant, name)
		case !limit.Allow():
			decision, err = "rate_limited", fmt.Errorf("tenant %s's on-demand rate (%d per minute) is spent", tenant, o.PerMinute)
		}
		m.onDemand.WithLabelValues(tenant, decision).Inc()
		return err
	}
}

// helloKey carries a handshake's ClientHelloInfo in the context certmagic
// hands the on-demand decision (acmeGetCertificate).
type helloKey struct{}

// acmeGetCertificate is an ACME tenant's GetCertificate: certmagic's, with
// the ClientHello in its context for the guest's on-demand decision.
func acmeGetCertificate(cm *certmagic.Config) func(*tls.ClientHelloInfo) (*tls.Certificate, error) {
	return func(hello *tls.ClientHelloInfo) (*tls.Certificate, error) {
		return cm.GetCertificateWithContext(context.WithValue(hello.Context(), helloKey{}, hello), hello)
	}
}

// acmeCertificates is the CERTIFICATES input of an ACME tenant's
// certificate hook: its one certificate per name, "default" (ECDSA, what
// certmagic obtains).
var acmeCertificates, _ = wasmhost.EncodeCertificates([]wasmhost.CertificateInfo{{Name: config.DefaultCertificateName, Key: abi.KeyECDSA}})

// guestDecides returns the guest's say in an on-demand issuance for tenant:
// false only when the tenant's current guest exports the certificate hook
// and it returns ACCESS_DENIED for the handshake (in ctx) that would issue
// the name. A failing guest, or none, leaves the decision to the rest of
// the policy, as a failing certificate guest never refuses a client.
func (g *Gateway) guestDecides(tenant string) func(context.Context) bool {
	return func(ctx context.Context) bool {
		hello, _ := ctx.Value(helloKey{}).(*tls.ClientHelloInfo)
		t := g.snap.Load().tenant(tenant)
		if hello == nil || t == nil || !t.picker {
			return true
		}
		cctx, cancel := context.WithTimeout(ctx, t.cfg.Guest.CertificateDeadline)
		d, err := t.pool.Certificate(cctx, wasmhost.CertificateInput{Hello: helloInput(hello), Certificates: acmeCertificates})
		cancel()
		if err != nil {
			g.metrics.certChoice.WithLabelValues(tenant, "error").Inc()
			g.log.Debug("certificate guest failed on an on-demand issuance: the policy decides", "tenant", tenant, "err", err)
			return true
		}
		return !d.Refuse
	}
}

// nameMatches reports whether name is one of patterns: an exact name, or
// "*.rest" matching one label before rest; wildcardsOnly ignores exact
// patterns (those are issued at start, not on demand).
func nameMatches(patterns []string, name string, wildcardsOnly bool) bool {
	for _, p := range patterns {
		p = strings.ToLower(p)
		if rest, ok := strings.CutPrefix(p, "*."); ok {
			label, after, found := strings.Cut(name, ".")
			if found && label != "" && after == rest {
				return true
			}
		} else if !wildcardsOnly && p == name {
			return true
		}
	}
	return false
}
