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
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/letsencrypt/challtestsrv"
	"github.com/letsencrypt/pebble/v2/ca"
	"github.com/letsencrypt/pebble/v2/db"
	"github.com/letsencrypt/pebble/v2/va"
	"github.com/letsencrypt/pebble/v2/wfe"

	"github.com/tlsgate/tlsgate/gateway/config"
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
}
