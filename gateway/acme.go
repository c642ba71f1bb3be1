package gateway

import (
	"context"
	"crypto/x509"
	"fmt"
	"net"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"

	"github.com/caddyserver/certmagic"
	"github.com/mholt/acmez/v3"
	"go.uber.org/zap"
	"golang.org/x/time/rate"

	"github.com/tlsgate/tlsgate/gateway/config"
	"github.com/tlsgate/tlsgate/gateway/natskv"
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
	mu      sync.Mutex             // guards configs
	configs map[string]*acmeTenant // by tenant name
}

// acmeTenant is one tenant's certmagic configuration and what it manages.
type acmeTenant struct {
	settings config.ACME
	names    []string
	cm       *certmagic.Config
	stop     context.CancelFunc // ends its obtaining and retries once replaced or gone
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
	kv, err := g.kv.CertsKV(ctx, true)
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
			if slices.Contains(at.names, want) {
				return at
			}
		}
	}
	return nil
}

// tenant returns the certmagic configuration of tenant tc, starting to
// manage its names (obtaining a certificate in the background if the
// fleet's store has none, renewing it before it ends). The same settings
// and names keep the configuration already managing them.
func (m *acmeManager) tenant(tc config.Tenant, listenPort int) (*certmagic.Config, error) {
	a := *tc.Certificate.ACME
	m.build.Lock()
	defer m.build.Unlock()
	m.mu.Lock()
	prev := m.configs[tc.Name]
	m.mu.Unlock()
	if prev != nil && sameACME(prev.settings, a) && slices.Equal(prev.names, tc.ServerNames) {
		return prev.cm, nil
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
	cm := certmagic.New(m.cache, certmagic.Config{Storage: m.storage, Logger: zap.NewNop()})
	issuer := certmagic.NewACMEIssuer(cm, certmagic.ACMEIssuer{
		CA: a.CA, Email: a.Email, Agreed: true, TrustedRoots: roots,
		DisableHTTPChallenge: true, // TLS-ALPN-01 on the tenant's own listener
		// certmagic would start a challenge listener of its own on this
		// address if it were free; the listener's port is ours, so it
		// finds it taken and leaves the challenge to GetCertificate.
		ListenHost: "127.0.0.1", AltTLSALPNPort: listenPort,
		Logger: zap.NewNop(),
	})
	cm.Issuers = []certmagic.Issuer{issuer}
	var exact []string
	for _, n := range tc.ServerNames {
		if !strings.HasPrefix(n, "*.") {
			exact = append(exact, n)
		}
	}
	if o := a.OnDemand; o != nil {
		stored := func(ctx context.Context, name string) bool {
			return m.storage.Exists(ctx, certmagic.StorageKeys.SiteCert(issuer.IssuerKey(), name))
		}
		cm.OnDemand = &certmagic.OnDemandConfig{DecisionFunc: onDemandPolicy(tc.ServerNames, o, stored, m.g.metrics, tc.Name)}
	}
	ctx, stop := context.WithCancel(m.g.ctx)
	at := &acmeTenant{settings: a, names: append([]string(nil), tc.ServerNames...), cm: cm, stop: stop}
	if len(exact) > 0 {
		if err := cm.ManageAsync(ctx, exact); err != nil {
			stop()
			return nil, err
		}
	}
	m.mu.Lock()
	m.configs[tc.Name] = at
	m.mu.Unlock()
	if prev != nil {
		prev.stop()
	}
	return cm, nil
}

// listenPort is the port of the gateway's first listener, as configured.
func listenPort(cfg *config.Config) int {
	if len(cfg.Listeners) == 0 {
		return 443
	}
	_, p, err := net.SplitHostPort(cfg.Listeners[0].Address)
	if err != nil {
		return 443
	}
	n, _ := strconv.Atoi(p)
	return n
}

// prune stops managing the certificates of tenants s no longer has with
// ACME: their obtaining and retries end, and certmagic no longer renews
// them (it finds no configuration for them).
func (m *acmeManager) prune(s *snapshot) {
	keep := map[string]bool{}
	for _, t := range s.list {
		if t.acme != nil {
			keep[t.name] = true
		}
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	for name, at := range m.configs {
		if !keep[name] {
			at.stop()
			delete(m.configs, name)
		}
	}
}

// sameACME reports whether two tenants' ACME settings are the same.
func sameACME(a, b config.ACME) bool {
	if (a.OnDemand == nil) != (b.OnDemand == nil) {
		return false
	}
	if a.OnDemand != nil && (!slices.Equal(a.OnDemand.Allow, b.OnDemand.Allow) ||
		a.OnDemand.PerMinute != b.OnDemand.PerMinute || a.OnDemand.Burst != b.OnDemand.Burst) {
		return false
	}
	a.OnDemand, b.OnDemand = nil, nil
	return a == b
}

// onDemandPolicy decides whether name may be issued during a handshake: a
// tenant's wildcard server name must match it, so must an entry of the
// allow list, and the tenant's rate must not be spent; every decision is
// counted in tlsgate_acme_on_demand_total{tenant,decision}.
//
// The rate is spent only by names the fleet's store has no certificate for:
// certmagic asks this before it loads one (another gateway may have
// obtained it) and before each renewal, which must never be refused.
// It is counted per gateway: a fleet of N asks the CA up to N times the rate.
func onDemandPolicy(serverNames []string, o *config.OnDemand, stored func(context.Context, string) bool, m *metrics, tenant string) func(context.Context, string) error {
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
		case !limit.Allow():
			decision, err = "rate_limited", fmt.Errorf("tenant %s's on-demand rate (%d per minute) is spent", tenant, o.PerMinute)
		}
		m.onDemand.WithLabelValues(tenant, decision).Inc()
		return err
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
