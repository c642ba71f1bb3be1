package gateway

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/letsencrypt/challtestsrv"
	"github.com/letsencrypt/pebble/v2/ca"
	"github.com/letsencrypt/pebble/v2/db"
	"github.com/letsencrypt/pebble/v2/va"
	"github.com/letsencrypt/pebble/v2/wfe"

	"github.com/tlsgate/tlsgate/gateway/config"
)

// pebble is a real ACME server (Let's Encrypt's Pebble) run in the test
// process on loopback: its front end over HTTPS, its CA, and its
// validation authority, which resolves every name to 127.0.0.1 through
// pebble-challtestsrv's DNS server and validates TLS-ALPN-01 challenges by
// connecting to the gateway's listener. Its "always valid" mode is off.
type pebble struct {
	url      string // the ACME directory
	rootFile string // PEM of the front end's HTTPS certificate, for ca_root_file
	ca       *ca.CAImpl
	ready    chan struct{}
	handler  atomic.Pointer[http.Handler]
	dns      string
	store    *db.MemoryStore
}

func startPebble(t *testing.T, validity time.Duration) *pebble {
	t.Helper()
	t.Setenv("PEBBLE_VA_NOSLEEP", "1")
	t.Setenv("PEBBLE_VA_ALWAYS_VALID", "")
	quiet := log.New(io.Discard, "", 0)
	// A UDP port for the DNS server, picked by the kernel.
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &pebble{dns: pc.LocalAddr().String(), ready: make(chan struct{})}
	pc.Close()
	dns, err := challtestsrv.New(challtestsrv.Config{DNSAddrs: []string{p.dns}, Log: quiet})
	if err != nil {
		t.Fatal(err)
	}
	dns.SetDefaultDNSIPv4("127.0.0.1")
	dns.SetDefaultDNSIPv6("")
	dns.Run()
	t.Cleanup(dns.Shutdown)
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		<-p.ready // the validation authority needs the gateway's port first
		(*p.handler.Load()).ServeHTTP(w, r)
	}))
	srv.StartTLS()
	t.Cleanup(srv.Close)
	p.url = srv.URL + "/dir"
	p.rootFile = filepath.Join(t.TempDir(), "pebble-wfe.pem")
	if err := os.WriteFile(p.rootFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw}), 0o600); err != nil {
		t.Fatal(err)
	}
	store := db.NewMemoryStore()
	p.ca = ca.New(quiet, store, "", "ecdsa", 0, 1, map[string]ca.Profile{"default": {Description: "default", ValidityPeriod: uint64(validity / time.Second)}})
	p.store = store
	return p
}

// validateOn starts the validation authority (challenges on tlsPort) and
// opens the front end.
func (p *pebble) validateOn(t *testing.T, tlsPort int) {
	t.Helper()
	quiet := log.New(io.Discard, "", 0)
	v := va.New(quiet, tlsPort, tlsPort, false, p.dns, p.store)
	w := wfe.New(quiet, p.store, v, p.ca, []string{"pebble.letsencrypt.org"}, false, false, 0, 0)
	h := w.Handler()
	p.handler.Store(&h)
	close(p.ready)
}

// roots is the pool of Pebble's issuing root.
func (p *pebble) roots() *x509.CertPool {
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(p.ca.GetRootCert(0).PEM())
	return pool
}

// verifiedLeaf dials g for sni, verifying the chain against roots, and
// returns the leaf served.
func verifiedLeaf(g *Gateway, sni string, roots *x509.CertPool) (*x509.Certificate, error) {
	c, err := tls.Dial("tcp", g.addr(), &tls.Config{ServerName: sni, RootCAs: roots, MinVersion: tls.VersionTLS12})
	if err != nil {
		return nil, err
	}
	defer c.Close()
	st := c.ConnectionState()
	if len(st.PeerCertificates) == 0 {
		return nil, errors.New("no certificate")
	}
	return st.PeerCertificates[0], nil
}

// TestACMECertificateFromPebble: a tenant with certificate.acme gets its
// certificate from a real ACME server, validated by TLS-ALPN-01 against the
// gateway's own listener; a second gateway sharing the first one's NATS
// serves the same certificate, read from the fleet's store, without
// obtaining one of its own.
func TestACMECertificateFromPebble(t *testing.T) {
	p := startPebble(t, 0)
	tenant := config.Tenant{Name: "shop", ServerNames: []string{"shop.acme.test"}, Upstream: config.BuiltinUpstream,
		Certificate: config.Certificate{ACME: &config.ACME{CA: p.url, CARootFile: p.rootFile, Email: "ops@acme.test"}}}
	cfgA := testConfig(t, tenant)
	cfgA.NATS.Embedded.Listen = "127.0.0.1:0"
	gA := startGateway(t, cfgA)
	p.validateOn(t, gA.Addrs()[0].(*net.TCPAddr).Port)

	roots := p.roots()
	var leaf *x509.Certificate
	eventually(t, "gateway A serves a certificate Pebble issued", func() error {
		var err error
		leaf, err = verifiedLeaf(gA, "shop.acme.test", roots)
		return err
	})
	if err := leaf.VerifyHostname("shop.acme.test"); err != nil {
		t.Fatal(err)
	}
	if got := gaugeValue(t, gA, "tlsgate_certificate_expiry_timestamp_seconds"); got != float64(leaf.NotAfter.Unix()) {
		t.Errorf("tlsgate_certificate_expiry_timestamp_seconds = %v, want the served certificate's %v", got, leaf.NotAfter.Unix())
	}

	cfgB := testConfig(t, tenant)
	cfgB.NATS.URL = gA.NATSURL()
	cfgB.NATS.NkeyFile = cfgA.NATS.Embedded.GatewayNkeyFile
	gB := startGateway(t, cfgB)
	eventually(t, "gateway B serves the certificate gateway A obtained", func() error {
		got, err := verifiedLeaf(gB, "shop.acme.test", roots)
		if err != nil {
			return err
		}
		if got.SerialNumber.Cmp(leaf.SerialNumber) != 0 {
			return fmt.Errorf("serial %v, want gateway A's %v", got.SerialNumber, leaf.SerialNumber)
		}
		return nil
	})
}

// TestACMERenewalUnderLoad: Pebble issues certificates that last 30 s, so
// the gateway renews within seconds; clients dialling all along never see
// a failed handshake, and are served the renewed certificate.
func TestACMERenewalUnderLoad(t *testing.T) {
	old := acmeRenewCheck
	acmeRenewCheck = time.Second
	t.Cleanup(func() { acmeRenewCheck = old })
	p := startPebble(t, 30*time.Second)
	tenant := config.Tenant{Name: "shop", ServerNames: []string{"shop.acme.test"}, Upstream: config.BuiltinUpstream,
		Certificate: config.Certificate{ACME: &config.ACME{CA: p.url, CARootFile: p.rootFile}}}
	cfg := testConfig(t, tenant)
	g := startGateway(t, cfg)
	p.validateOn(t, g.Addrs()[0].(*net.TCPAddr).Port)
	roots := p.roots()
	var first *x509.Certificate
	eventually(t, "the first certificate", func() error {
		var err error
		first, err = verifiedLeaf(g, "shop.acme.test", roots)
		return err
	})
	deadline := time.Now().Add(2 * time.Minute)
	for n := 1; ; n++ {
		leaf, err := verifiedLeaf(g, "shop.acme.test", roots)
		if err != nil {
			t.Fatalf("handshake %d failed during renewal: %v", n, err)
		}
		if leaf.SerialNumber.Cmp(first.SerialNumber) != 0 {
			if !leaf.NotAfter.After(first.NotAfter) {
				t.Fatalf("renewed certificate ends %v, not after the first's %v", leaf.NotAfter, first.NotAfter)
			}
			t.Logf("renewed after %d handshakes", n)
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("no renewal within 2 minutes (%d handshakes)", n)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestACMEOnDemand: a tenant with a wildcard server name obtains a
// certificate for a name under it during that name's first handshake, only
// for names its policy allows and within its rate; refused names reach no
// CA, their handshakes fail, and each decision is counted.
func TestACMEOnDemand(t *testing.T) {
	p := startPebble(t, 0)
	tenant := config.Tenant{Name: "w", ServerNames: []string{"*.w.acme.test"}, Upstream: config.BuiltinUpstream,
		Certificate: config.Certificate{ACME: &config.ACME{CA: p.url, CARootFile: p.rootFile,
			OnDemand: &config.OnDemand{Allow: []string{"a.w.acme.test", "b.w.acme.test"}, PerMinute: 1, Burst: 1}}}}
	cfgA := testConfig(t, tenant)
	cfgA.NATS.Embedded.Listen = "127.0.0.1:0"
	g := startGateway(t, cfgA)
	p.validateOn(t, g.Addrs()[0].(*net.TCPAddr).Port)
	roots := p.roots()
	decisions := func(g *Gateway, d string) float64 {
		return counterValueFor(t, g, "tlsgate_acme_on_demand_total", map[string]string{"tenant": "w", "decision": d})
	}

	leaf, err := verifiedLeaf(g, "a.w.acme.test", roots)
	if err != nil {
		t.Fatalf("the first handshake for an allowed name: %v", err)
	}
	if err := leaf.VerifyHostname("a.w.acme.test"); err != nil || len(leaf.DNSNames) != 1 {
		t.Fatalf("on-demand certificate names %v: %v", leaf.DNSNames, err)
	}
	if _, err := verifiedLeaf(g, "x.w.acme.test", roots); err == nil {
		t.Error("a name outside on_demand.allow got a certificate")
	}
	if _, err := verifiedLeaf(g, "b.w.acme.test", roots); err == nil {
		t.Error("an allowed name got a certificate past the tenant's rate (1 per minute)")
	}
	again, err := verifiedLeaf(g, "a.w.acme.test", roots)
	if err != nil || again.SerialNumber.Cmp(leaf.SerialNumber) != 0 {
		t.Errorf("the issued name's next handshake: %v (serial %v, want %v)", err, again, leaf.SerialNumber)
	}
	for d, want := range map[string]float64{"issued": 1, "not_allowed": 1, "rate_limited": 1} {
		if got := decisions(g, d); got != want {
			t.Errorf("tlsgate_acme_on_demand_total{decision=%q} = %v, want %v", d, got, want)
		}
	}

	// Another gateway of the fleet loads the name's certificate from NATS
	// without spending its own rate (so with a rate of one it still serves
	// it, twice).
	cfgB := testConfig(t, tenant)
	cfgB.NATS.URL = g.NATSURL()
	cfgB.NATS.NkeyFile = cfgA.NATS.Embedded.GatewayNkeyFile
	gB := startGateway(t, cfgB)
	for range 2 {
		onB, err := verifiedLeaf(gB, "a.w.acme.test", roots)
		if err != nil || onB.SerialNumber.Cmp(leaf.SerialNumber) != 0 {
			t.Fatalf("gateway B: %v (want gateway A's certificate)", err)
		}
	}
	if got := decisions(gB, "issued"); got != 0 {
		t.Errorf("gateway B issued %v certificates for a name the fleet had", got)
	}
	if got := decisions(gB, "stored"); got < 1 {
		t.Errorf("gateway B's decisions: stored %v, want at least 1", got)
	}
}
