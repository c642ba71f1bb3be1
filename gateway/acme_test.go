package gateway

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"log"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/caddyserver/certmagic"
	"github.com/letsencrypt/challtestsrv"
	"github.com/letsencrypt/pebble/v2/ca"
	"github.com/letsencrypt/pebble/v2/db"
	"github.com/letsencrypt/pebble/v2/va"
	"github.com/letsencrypt/pebble/v2/wfe"
	"github.com/libdns/libdns"
	"github.com/miekg/dns"

	"github.com/tlsgate/tlsgate/gateway/config"
	"github.com/tlsgate/tlsgate/gateway/natskv"
	"github.com/tlsgate/tlsgate/internal/bench"
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
	chall    *challtestsrv.ChallSrv // its DNS server's records
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
	p.chall = dns
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
func (p *pebble) validateOn(t *testing.T, tlsPort int) { p.validateOnPorts(t, tlsPort, tlsPort) }

// validateOnPorts is validateOn with HTTP-01 challenges on httpPort.
func (p *pebble) validateOnPorts(t *testing.T, httpPort, tlsPort int) {
	t.Helper()
	quiet := log.New(io.Discard, "", 0)
	v := va.New(quiet, httpPort, tlsPort, false, p.dns, p.store)
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

	// A reload that is refused (another tenant's certificate does not
	// load) leaves the ACME settings in force as they were.
	changed := *cfgA
	shop := tenant
	shop.Certificate.ACME = &config.ACME{CA: p.url, CARootFile: p.rootFile, Email: "new@acme.test"}
	broken := cacheTenant("broken", "broken.test")
	broken.Certificate = config.Certificate{CertFile: "/nonexistent.crt", KeyFile: "/nonexistent.key"}
	changed.Tenants = []config.Tenant{shop, broken}
	err := gA.Reload(context.Background(), &changed)
	if err == nil {
		t.Fatal("a reload with a certificate that does not load was applied")
	}
	if !strings.HasPrefix(err.Error(), "gateway: reload refused: tenants[1].certificate: ") {
		t.Errorf("the refusal says %q, want the reason named once, after \"gateway: reload refused: \"", err)
	}
	if at := gA.acmeNow().forHost("shop.acme.test"); at == nil || at.settings.Email != "ops@acme.test" {
		t.Errorf("after a refused reload the ACME settings in force are %+v, want the first ones", at)
	}
}

// TestACMERenewalUnderLoad: Pebble issues certificates that last 30 s, so
// the gateway renews within seconds; tlsgate bench, verifying every
// certificate against Pebble's root, runs full handshakes all along and
// sees none fail, while the renewed certificate comes to be served.
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
	rootFile := filepath.Join(t.TempDir(), "pebble-root.pem")
	if err := os.WriteFile(rootFile, p.ca.GetRootCert(0).PEM(), 0o600); err != nil {
		t.Fatal(err)
	}

	// The bench runs until the renewed certificate has been served (or
	// two minutes, which fails the test), then stops.
	ctx, stop := context.WithTimeout(context.Background(), 2*time.Minute)
	defer stop()
	var out bytes.Buffer
	cmd := bench.NewCommand()
	cmd.SetArgs([]string{"--addr", g.addr(), "--sni", "shop.acme.test", "--ca", rootFile, "--mode", "full",
		"--concurrency", "2", "--duration", "2m", "--timeout", "30s", "--json"})
	cmd.SetOut(&out)
	cmd.SetErr(io.Discard)
	benchErr := make(chan error, 1)
	go func() { benchErr <- cmd.ExecuteContext(ctx) }()
	var renewed *x509.Certificate
	for renewed == nil && ctx.Err() == nil {
		time.Sleep(200 * time.Millisecond)
		if leaf, err := verifiedLeaf(g, "shop.acme.test", roots); err == nil && leaf.SerialNumber.Cmp(first.SerialNumber) != 0 {
			renewed = leaf
		}
	}
	if renewed == nil {
		t.Fatal("no renewed certificate served within 2 minutes")
	}
	if !renewed.NotAfter.After(first.NotAfter) {
		t.Errorf("renewed certificate ends %v, not after the first's %v", renewed.NotAfter, first.NotAfter)
	}
	time.Sleep(time.Second) // a little load on the renewed certificate too
	stop()
	<-benchErr // interrupted by stop: the report is printed all the same
	var rep struct {
		Handshakes  int64            `json:"handshakes"`
		ErrorsTotal int64            `json:"errors_total"`
		Errors      map[string]int64 `json:"errors"`
	}
	if err := json.Unmarshal(out.Bytes(), &rep); err != nil {
		t.Fatalf("bench report %q: %v", out.String(), err)
	}
	if rep.Handshakes < 100 || rep.ErrorsTotal != 0 {
		t.Fatalf("tlsgate bench across the renewal: %d handshakes, %d failed %v", rep.Handshakes, rep.ErrorsTotal, rep.Errors)
	}
	t.Logf("renewed under tlsgate bench: %d handshakes, 0 failed", rep.Handshakes)
}

// TestACMEOnDemand: a tenant with a wildcard server name obtains a
// certificate for a name under it during that name's first handshake, only
// for names its policy allows, its guest does not refuse, and within its
// rate; refused names get no certificate (their handshakes fail), and each
// decision is counted.
func TestACMEOnDemand(t *testing.T) {
	p := startPebble(t, 0)
	// The guest (testdata/cert_pick.wat) refuses names starting with d.
	tenant := config.Tenant{Name: "w", ServerNames: []string{"*.w.acme.test"}, Upstream: config.BuiltinUpstream,
		Certificate: config.Certificate{ACME: &config.ACME{CA: p.url, CARootFile: p.rootFile,
			OnDemand: &config.OnDemand{Allow: []string{"a.w.acme.test", "b.w.acme.test", "d.w.acme.test"}, PerMinute: 1, Burst: 1}}},
		Guest: &config.Guest{Module: watGuest(t, "cert_pick")}}
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
	if _, err := verifiedLeaf(g, "d.w.acme.test", roots); err == nil {
		t.Error("an allowed name the guest refuses got a certificate")
	}
	if _, err := verifiedLeaf(g, "b.w.acme.test", roots); err == nil {
		t.Error("an allowed name got a certificate past the tenant's rate (1 per minute)")
	}
	again, err := verifiedLeaf(g, "a.w.acme.test", roots)
	if err != nil || again.SerialNumber.Cmp(leaf.SerialNumber) != 0 {
		t.Errorf("the issued name's next handshake: %v (serial %v, want %v)", err, again, leaf.SerialNumber)
	}
	for d, want := range map[string]float64{"issued": 1, "not_allowed": 1, "guest_refused": 1, "rate_limited": 1} {
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

// childGatewayEnv, set in the environment of this test binary, makes it a
// gateway process instead of running tests (TestMain): the value is the
// gateway's configuration as JSON. It prints "ADDR <listener>" when it
// serves and runs until it is killed.
const childGatewayEnv = "TLSGATE_TEST_CHILD_GATEWAY"

func runChildGateway(cfgJSON string) {
	var cfg config.Config
	if err := json.Unmarshal([]byte(cfgJSON), &cfg); err != nil {
		fmt.Fprintln(os.Stderr, "child gateway config:", err)
		os.Exit(2)
	}
	g, err := New(context.Background(), &cfg, WithLogger(slog.New(slog.NewTextHandler(os.Stderr, nil))))
	if err != nil {
		fmt.Fprintln(os.Stderr, "child gateway:", err)
		os.Exit(1)
	}
	fmt.Printf("ADDR %s\n", g.Addrs()[0])
	select {}
}

// startChildGateway runs cfg's gateway in a process of its own, which the
// test may kill.
func startChildGateway(t *testing.T, cfg *config.Config) *exec.Cmd {
	t.Helper()
	b, err := json.Marshal(cfg)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), childGatewayEnv+"="+string(b))
	cmd.Stderr = os.Stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	line, err := bufio.NewReader(out).ReadString('\n')
	if err != nil || !strings.HasPrefix(line, "ADDR ") {
		t.Fatalf("child gateway did not start: %q, %v", line, err)
	}
	return cmd
}

// TestACMELockOutlivesAKilledIssuer: a gateway process that took a name's
// issuance lock is killed (SIGKILL) before the CA answered it; another
// gateway of the fleet waits for the dead holder's lease to run out, takes
// the lock over and obtains the certificate. Nothing is left stuck.
func TestACMELockOutlivesAKilledIssuer(t *testing.T) {
	p := startPebble(t, 0) // its front end holds every request until validateOn
	host := testConfig(t, cacheTenant("a", "a.test"))
	host.NATS.Embedded.Listen = "127.0.0.1:0"
	gA := startGateway(t, host)

	tenant := config.Tenant{Name: "shop", ServerNames: []string{"shop.acme.test"}, Upstream: config.BuiltinUpstream,
		Certificate: config.Certificate{ACME: &config.ACME{CA: p.url, CARootFile: p.rootFile}}}
	joined := func() *config.Config {
		c := testConfig(t, tenant)
		c.NATS.URL = gA.NATSURL()
		c.NATS.NkeyFile = host.NATS.Embedded.GatewayNkeyFile
		return c
	}
	ctx := context.Background()
	deployer := natsClient(t, gA.NATSURL(), host.NATS.Embedded.DeployerNkeyFile)
	certs, err := deployer.CertsKV(ctx, true)
	if err != nil {
		t.Fatal(err)
	}
	w, err := certs.WatchAll(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer w.Stop()

	child := startChildGateway(t, joined())
	lock := ""
	for lock == "" {
		select {
		case e := <-w.Updates():
			if e != nil && strings.Contains(string(e.Value()), fmt.Sprintf("pid %d/", child.Process.Pid)) {
				lock = e.Key()
			}
		case <-time.After(time.Minute):
			t.Fatal("the child gateway took no lock within a minute")
		}
	}
	if err := child.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	killed := time.Now()
	child.Wait()
	if _, err := certs.Get(ctx, lock); err != nil {
		t.Fatalf("the killed holder's lock: %v, want it still there", err)
	}

	gB := startGateway(t, joined())
	p.validateOn(t, gB.Addrs()[0].(*net.TCPAddr).Port)
	var leaf *x509.Certificate
	eventually(t, "gateway B obtains the certificate once the dead holder's lease ends", func() error {
		leaf, err = verifiedLeaf(gB, "shop.acme.test", p.roots())
		return err
	})
	if err := leaf.VerifyHostname("shop.acme.test"); err != nil {
		t.Fatal(err)
	}
	// B waited: it took the lock only once the dead holder's entry had
	// stayed unchanged for a whole lease.
	if waited := time.Since(killed); waited < natskv.LockLease {
		t.Errorf("gateway B obtained the certificate %v after the holder was killed, before the lock's lease (%v) ran out", waited, natskv.LockLease)
	}
}

// watchLock returns a function that waits for an ACME issuance lock to be
// taken in g's certificate bucket, and returns its holder's entry.
func watchLock(t *testing.T, g *Gateway, deployerSeed string) func() string {
	t.Helper()
	ctx := context.Background()
	certs, err := natsClient(t, g.NATSURL(), deployerSeed).CertsKV(ctx, true)
	if err != nil {
		t.Fatal(err)
	}
	w, err := certs.WatchAll(ctx)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { w.Stop() })
	return func() string {
		for {
			select {
			case e := <-w.Updates():
				if e != nil && strings.Contains(string(e.Value()), `"owner"`) {
					return string(e.Value())
				}
			case <-time.After(time.Minute):
				t.Fatal("no ACME lock taken within a minute")
			}
		}
	}
}

// TestACMEHTTP01AcrossTheFleet: with challenges [http-01], the CA
// validates on a gateway's http listener, and that gateway need not be
// the one that asked: gateway A takes the lock and orders, the CA asks
// gateway B's port 80 (as a load balancer would send it), and B answers
// from the challenge A left in NATS. The http listener redirects
// everything else to https://, and refuses hosts no tenant serves.
func TestACMEHTTP01AcrossTheFleet(t *testing.T) {
	p := startPebble(t, 0) // its front end holds every request until validateOn
	tenant := config.Tenant{Name: "shop", ServerNames: []string{"shop.acme.test"}, Upstream: config.BuiltinUpstream,
		Certificate: config.Certificate{ACME: &config.ACME{CA: p.url, CARootFile: p.rootFile, Challenges: []string{"http-01"}}}}
	cfgA := testConfig(t, tenant)
	cfgA.NATS.Embedded.Listen = "127.0.0.1:0"
	cfgA.HTTP.Address = "127.0.0.1:0"
	gA := startGateway(t, cfgA)
	lock := watchLock(t, gA, cfgA.NATS.Embedded.DeployerNkeyFile)()

	// B has a default tenant too: the redirect must not follow it to
	// whatever host a request names.
	fallback := cacheTenant("fallback", "fallback.test")
	fallback.Default = true
	cfgB := testConfig(t, tenant, fallback)
	cfgB.NATS.URL = gA.NATSURL()
	cfgB.NATS.NkeyFile = cfgA.NATS.Embedded.GatewayNkeyFile
	cfgB.HTTP.Address = "127.0.0.1:0"
	gB := startGateway(t, cfgB)
	if !strings.Contains(lock, fmt.Sprintf("pid %d/origin %02x", os.Getpid(), gA.origin)) {
		t.Fatalf("the lock is not gateway A's: %s", lock)
	}
	// No TLS-ALPN-01: a port nothing listens on.
	p.validateOnPorts(t, gB.httpLn.Addr().(*net.TCPAddr).Port, 1)

	roots := p.roots()
	var leaf *x509.Certificate
	eventually(t, "gateway A serves the certificate validated on gateway B", func() error {
		var err error
		leaf, err = verifiedLeaf(gA, "shop.acme.test", roots)
		return err
	})
	eventually(t, "gateway B serves gateway A's certificate", func() error {
		onB, err := verifiedLeaf(gB, "shop.acme.test", roots)
		if err == nil && onB.SerialNumber.Cmp(leaf.SerialNumber) != 0 {
			err = fmt.Errorf("serial %v, want gateway A's %v", onB.SerialNumber, leaf.SerialNumber)
		}
		return err
	})

	client := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	get := func(host, path string) *http.Response {
		req, err := http.NewRequest("GET", "http://"+gB.httpLn.Addr().String()+path, nil)
		if err != nil {
			t.Fatal(err)
		}
		req.Host = host
		resp, err := client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp
	}
	resp := get("shop.acme.test", "/cart?item=1")
	want := fmt.Sprintf("https://shop.acme.test:%d/cart?item=1", gB.Addrs()[0].(*net.TCPAddr).Port)
	if resp.StatusCode != http.StatusPermanentRedirect || resp.Header.Get("Location") != want {
		t.Errorf("http://shop.acme.test/cart?item=1: %s to %q, want 308 to %q", resp.Status, resp.Header.Get("Location"), want)
	}
	if resp := get("evil.example", "/login"); resp.StatusCode != http.StatusMisdirectedRequest {
		t.Errorf("a host no tenant names (only the default tenant would take it): %s to %q, want 421", resp.Status, resp.Header.Get("Location"))
	}
	if resp := get("shop.acme.test", "/.well-known/acme-challenge/unknowntoken"); resp.StatusCode != http.StatusNotFound {
		t.Errorf("a challenge token nobody asked for: %s, want 404", resp.Status)
	}
}

// challDNS is a DNS-01 provider writing TXT records into
// pebble-challtestsrv's DNS server, the one Pebble's validation authority
// asks: registered as "challtestsrv" for TestACMEDNS01Wildcard, through
// the extension point a real provider (a libdns package) would use.
type challDNS struct{ s *challtestsrv.ChallSrv }

var (
	challDNSOnce    sync.Once
	challDNSServers sync.Map // DNS address -> *challtestsrv.ChallSrv
)

func (c challDNS) AppendRecords(_ context.Context, zone string, recs []libdns.Record) ([]libdns.Record, error) {
	for _, r := range recs {
		if rr := r.RR(); rr.Type == "TXT" {
			c.s.AddDNSTXTRecord(libdns.AbsoluteName(rr.Name, zone), rr.Data)
		}
	}
	return recs, nil
}

func (c challDNS) DeleteRecords(_ context.Context, zone string, recs []libdns.Record) ([]libdns.Record, error) {
	for _, r := range recs {
		rr := r.RR()
		host := libdns.AbsoluteName(rr.Name, zone)
		keep := slices.DeleteFunc(c.s.GetDNSTXTRecords(host), func(v string) bool { return v == rr.Data })
		c.s.DeleteDNSTXTRecord(host)
		for _, v := range keep {
			c.s.AddDNSTXTRecord(host, v)
		}
	}
	return recs, nil
}

// resolver is the DNS server certmagic asks: zone's SOA, so that it finds
// the zone of a challenge record (challtestsrv answers no SOA), and the TXT
// records of challtestsrv, which its propagation check looks for.
func resolver(t *testing.T, zone string, chall *challtestsrv.ChallSrv) string {
	t.Helper()
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &dns.Server{PacketConn: pc, Handler: dns.HandlerFunc(func(w dns.ResponseWriter, r *dns.Msg) {
		m := new(dns.Msg)
		m.SetReply(r)
		for _, q := range r.Question {
			switch {
			case q.Qtype == dns.TypeSOA && q.Name == zone:
				m.Answer = append(m.Answer, &dns.SOA{Hdr: dns.RR_Header{Name: zone, Rrtype: dns.TypeSOA, Class: dns.ClassINET, Ttl: 60},
					Ns: "ns." + zone, Mbox: "ops." + zone, Serial: 1, Refresh: 60, Retry: 60, Expire: 60, Minttl: 60})
			case q.Qtype == dns.TypeTXT:
				for _, v := range chall.GetDNSTXTRecords(q.Name) {
					m.Answer = append(m.Answer, &dns.TXT{Hdr: dns.RR_Header{Name: q.Name, Rrtype: dns.TypeTXT, Class: dns.ClassINET}, Txt: []string{v}})
				}
			}
		}
		w.WriteMsg(m)
	})}
	go srv.ActivateAndServe()
	t.Cleanup(func() { srv.Shutdown() })
	return pc.LocalAddr().String()
}

// TestACMEDNS01Wildcard: a tenant whose server names include a wildcard
// gets a wildcard certificate by DNS-01, through a DNS provider registered
// with RegisterDNSProvider; Pebble validates the TXT records in its DNS.
// Any name under the wildcard is then served, with no on-demand issuance.
// A provider the build does not have is refused by name.
func TestACMEDNS01Wildcard(t *testing.T) {
	challDNSOnce.Do(func() {
		RegisterDNSProvider("challtestsrv", func(settings map[string]string) (certmagic.DNSProvider, error) {
			s, ok := challDNSServers.Load(settings["dns"])
			if !ok {
				return nil, fmt.Errorf("settings.dns: %q is no challtestsrv of this test", settings["dns"])
			}
			return challDNS{s.(*challtestsrv.ChallSrv)}, nil
		})
	})
	p := startPebble(t, 0)
	challDNSServers.Store(p.dns, p.chall)
	dnsCfg := &config.DNSChallenge{Provider: "challtestsrv", Settings: map[string]string{"dns": p.dns},
		Resolvers: []string{resolver(t, "acme.test.", p.chall)}, PropagationTimeout: time.Minute}
	tenant := config.Tenant{Name: "wild", ServerNames: []string{"wild.acme.test", "*.wild.acme.test"}, Upstream: config.BuiltinUpstream,
		Certificate: config.Certificate{ACME: &config.ACME{CA: p.url, CARootFile: p.rootFile, DNS: dnsCfg}}}
	g := startGateway(t, testConfig(t, tenant))
	p.validateOnPorts(t, 1, 1) // nothing answers HTTP-01 or TLS-ALPN-01 there: DNS-01 only

	roots := p.roots()
	for _, name := range []string{"wild.acme.test", "any.wild.acme.test", "other.wild.acme.test"} {
		eventually(t, name+" is served by DNS-01", func() error {
			leaf, err := verifiedLeaf(g, name, roots)
			if err == nil && name != "wild.acme.test" && !slices.Contains(leaf.DNSNames, "*.wild.acme.test") {
				err = fmt.Errorf("certificate names %v, want the wildcard", leaf.DNSNames)
			}
			return err
		})
	}
	if got := counterValueFor(t, g, "tlsgate_acme_on_demand_total", map[string]string{"tenant": "wild", "decision": "issued"}); got != 0 {
		t.Errorf("%v certificates issued on demand, want none: the wildcard covers them", got)
	}

	bad := tenant
	bad.Certificate.ACME = &config.ACME{CA: p.url, DNS: &config.DNSChallenge{Provider: "route53"}}
	cfg := testConfig(t, bad)
	if _, err := New(context.Background(), cfg, WithLogger(testLogger(t))); err == nil ||
		!strings.Contains(err.Error(), `tenants[0].certificate.acme: dns.provider: "route53" is not a DNS provider of this build`) {
		t.Errorf("a tenant naming a provider the build lacks: %v", err)
	}
	bad.Certificate.ACME = &config.ACME{CA: p.url, Challenges: []string{"http-01"}}
	bad.ServerNames = []string{"wild.acme.test"}
	if _, err := New(context.Background(), testConfig(t, bad), WithLogger(testLogger(t))); err == nil ||
		!strings.Contains(err.Error(), `tenants[0].certificate.acme: challenges: http-01 needs the gateway's http listener (http.address)`) {
		t.Errorf("http-01 without an http listener: %v", err)
	}
}

// TestACMEForRegistryTenants: a tenant put in the registry with
// certificate.acme gets its certificate like a file tenant; removing it
// stops its management.
func TestACMEForRegistryTenants(t *testing.T) {
	p := startPebble(t, 0)
	g, deployer := registryGateway(t)
	p.validateOn(t, g.Addrs()[0].(*net.TCPAddr).Port)
	doc := fmt.Sprintf("name: shop\nserver_names: [shop.acme.test]\nupstream: builtin\ncertificate: {acme: {ca: %q, ca_root_file: %q}}\n", p.url, p.rootFile)
	putTenant(t, g, deployer, doc)
	roots := p.roots()
	eventually(t, "the registry tenant serves a certificate Pebble issued", func() error {
		_, err := verifiedLeaf(g, "shop.acme.test", roots)
		return err
	})
	if err := deployer.DeleteTenant(context.Background(), "shop"); err != nil {
		t.Fatal(err)
	}
	eventually(t, "the removed tenant is no longer managed", func() error {
		if at := g.acmeNow().forHost("shop.acme.test"); at != nil {
			return errors.New("still managed")
		}
		return nil
	})
}
