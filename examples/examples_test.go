// Package examples_test runs every example of examples/ with the real
// tlsgate binary, real upstreams and real clients (Go's crypto/tls, openssl
// s_client, curl). The examples use fixed ports (8443, 8444, 4222, 9090,
// 9091, 8081, 9000), so these tests run one after the other, never in
// parallel, and every process they start is stopped in t.Cleanup.
package examples_test

import (
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/tlsgate/tlsgate/gateway/natskv"
)

// TestExamplesCheck runs tlsgate check on every example configuration.
func TestExamplesCheck(t *testing.T) {
	tests := []struct {
		name   string
		config string
		fleetB bool // B's config names files A generates: point them at a gateway A's
		want   []string
	}{
		{name: "single", config: "single/tlsgate.yaml", want: []string{"guest builtin:sessioncache loaded"}},
		{name: "multi-tenant", config: "multi-tenant/tlsgate.yaml",
			want: []string{"guest policycache.wasm loaded", "(legacy): no guest: stateless tickets"}},
		{name: "fleet gateway A", config: "fleet/1-gateway-a.yaml", want: []string{
			"sealing: no keys yet; one will be generated",
			"nats: embedded, client port 127.0.0.1:4222, NKey authentication",
			"nats: nats.embedded.deployer_nkey_file will be generated",
		}},
		{name: "acme", config: "acme/tlsgate.yaml", want: []string{
			"tenants[0] (shop): certificate for [shop.example.com www.shop.example.com] obtained and renewed by ACME",
			"(tls-alpn-01, http-01)", "on demand for [*.customers.example.com] (at most 10 a minute)",
			"http: :80 answers ACME HTTP-01 challenges",
		}},
		{name: "fleet gateway B", config: "fleet/2-gateway-b.yaml", fleetB: true, want: []string{
			"sealing: 1 key(s) from", "nats: nats://127.0.0.1:4222, nkey",
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var env []string
			if tt.fleetB {
				env = fleetBEnv(t, generatedByA(t))
			}
			out, err := runCommandEnv(t, 3*time.Minute, env, tlsgateBin, "check", "--config", tt.config,
				"--data-dir", t.TempDir())
			if err != nil || !strings.Contains(out, "configuration OK") {
				t.Fatalf("tlsgate check --config %s: %v\n%s", tt.config, err, out)
			}
			for _, w := range append(tt.want, "configuration OK") {
				if !strings.Contains(out, w) {
					t.Errorf("tlsgate check --config %s: output lacks %q:\n%s", tt.config, w, out)
				}
			}
		})
	}
}

// TestSingle follows examples/single/README.md: one gateway, sessions
// resumed by Go's client and by openssl s_client over TLS 1.3 and 1.2, and
// the built-in page over curl.
func TestSingle(t *testing.T) {
	g := startGateway(t, "gateway", "single/tlsgate.yaml", "127.0.0.1:9090")
	const addr = "127.0.0.1:8443"
	roots := tenantRoots(t, "web", g)

	for _, v := range opensslVersions {
		t.Run("openssl "+v.name, func(t *testing.T) {
			opensslResume(t, addr, addr, "localhost", v.flag)
		})
	}
	for _, v := range []uint16{tls.VersionTLS13, tls.VersionTLS12} {
		t.Run("Go client "+tls.VersionName(v), func(t *testing.T) {
			c := newGoClient("localhost", roots, v)
			body, resumed, err := c.get(t, addr)
			if err != nil || resumed || !strings.Contains(body, "tenant:          web") {
				t.Fatalf("first GET: resumed %v, %v\n%s", resumed, err, body)
			}
			retryResume(t, func() (bool, string) {
				body, resumed, err := c.get(t, addr)
				if err != nil {
					return false, err.Error()
				}
				if resumed && !strings.Contains(body, "session resumed: yes") {
					t.Errorf("resumed handshake, but the page says otherwise:\n%s", body)
				}
				return resumed, body
			})
		})
	}
	t.Run("curl", func(t *testing.T) {
		out, err := runCommand(t, time.Minute, "", "curl", "-sS", "--cacert", filepath.Join(g.dataDir, "certs", "web.crt"),
			"--resolve", "localhost:8443:127.0.0.1", "https://localhost:8443/")
		if err != nil || !strings.Contains(out, "tenant:          web") {
			t.Fatalf("curl: %v\n%s", err, out)
		}
	})
	t.Run("metrics count the resumptions", func(t *testing.T) {
		m := g.metrics(t)
		for _, mech := range []string{"tls13_psk", "tls12_ticket"} {
			re := regexp.MustCompile(`tlsgate_resumption_attempts_total\{mechanism="` + mech + `",result="hit",tenant="web"\} [1-9]`)
			if !re.MatchString(m) {
				t.Errorf("/metrics has no %s hit for tenant web", mech)
			}
		}
	})
}

// TestMultiTenant follows examples/multi-tenant/README.md: each tenant
// answers with its own upstream and resumes its sessions, the api tenant's
// policy keeps TLS 1.2 sessions out of its cache.
func TestMultiTenant(t *testing.T) {
	startHTTPUpstream(t, "127.0.0.1:8081", "api upstream")
	startProcess(t, "echo", echoBin, []string{"-listen", "127.0.0.1:9000"})
	waitListening(t, "127.0.0.1:9000")
	g := startGateway(t, "gateway", "multi-tenant/tlsgate.yaml", "127.0.0.1:9090")
	const addr = "127.0.0.1:8443"

	httpTenants := []struct {
		name       string
		tenant     string
		serverName string
		version    uint16
		wantBody   string
	}{
		{name: "shop over TLS 1.3", tenant: "shop", serverName: "shop.localhost", version: tls.VersionTLS13, wantBody: "tenant:          shop"},
		{name: "shop over TLS 1.2", tenant: "shop", serverName: "shop.localhost", version: tls.VersionTLS12, wantBody: "tenant:          shop"},
		{name: "api over TLS 1.3", tenant: "api", serverName: "api.localhost", version: tls.VersionTLS13, wantBody: "api upstream"},
	}
	for _, tt := range httpTenants {
		t.Run(tt.name, func(t *testing.T) {
			c := newGoClient(tt.serverName, tenantRoots(t, tt.tenant, g), tt.version)
			body, _, err := c.get(t, addr)
			if err != nil || !strings.Contains(body, tt.wantBody) {
				t.Fatalf("GET https://%s/: %v, body %q, want it to contain %q", tt.serverName, err, body, tt.wantBody)
			}
			retryResume(t, func() (bool, string) {
				body, resumed, err := c.get(t, addr)
				if err != nil {
					return false, err.Error()
				}
				if !strings.Contains(body, tt.wantBody) {
					t.Errorf("resuming GET answered %q, want it to contain %q", body, tt.wantBody)
				}
				return resumed, body
			})
		})
	}

	t.Run("legacy over TLS 1.3 echoes and resumes on stateless tickets", func(t *testing.T) {
		c := newGoClient("legacy.localhost", tenantRoots(t, "legacy", g), tls.VersionTLS13)
		for i := range 2 {
			line := fmt.Sprintf("hello %d", i)
			reply, resumed, err := c.echo(t, addr, line)
			if err != nil || reply != line {
				t.Fatalf("connection %d: echo %q = %q, %v", i, line, reply, err)
			}
			if want := i == 1; resumed != want {
				t.Fatalf("connection %d: resumed = %v, want %v (stateless tickets need no store)", i, resumed, want)
			}
		}
	})

	t.Run("api's policy does not cache TLS 1.2 sessions", func(t *testing.T) {
		c := newGoClient("api.localhost", tenantRoots(t, "api", g), tls.VersionTLS12)
		for i := range 4 {
			body, resumed, err := c.get(t, addr)
			if err != nil || !strings.Contains(body, "api upstream") {
				t.Fatalf("GET %d: %v, body %q", i, err, body)
			}
			if resumed {
				t.Fatalf("GET %d resumed a TLS 1.2 session, but api's policy is tls13_only=true", i)
			}
			time.Sleep(200 * time.Millisecond)
		}
		// Stores run after the connection, in the background: poll.
		re := regexp.MustCompile(`tlsgate_session_stores_total\{result="refused",tenant="api"\} [1-9]`)
		for deadline := time.Now().Add(30 * time.Second); !re.MatchString(g.metrics(t)); time.Sleep(100 * time.Millisecond) {
			if time.Now().After(deadline) {
				t.Errorf("/metrics counts no refused store for tenant api after 30s")
				break
			}
		}
	})

	t.Run("unknown SNI lands on the default tenant", func(t *testing.T) {
		c := newGoClient("shop.localhost", tenantRoots(t, "shop", g), tls.VersionTLS13)
		cfg := c.config()
		cfg.ServerName = "" // no SNI: verify shop's certificate by hand
		cfg.InsecureSkipVerify = true
		conn, err := tls.DialWithDialer(&net.Dialer{Timeout: 30 * time.Second}, "tcp", addr, cfg)
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		if _, err := conn.ConnectionState().PeerCertificates[0].Verify(x509.VerifyOptions{Roots: c.roots, DNSName: "shop.localhost"}); err != nil {
			t.Fatalf("a client without SNI got a certificate that is not shop's: %v", err)
		}
	})
}

// TestFleet follows examples/fleet/README.md: gateway A embeds NATS, B joins
// it, and a session made on one gateway resumes on the other.
//
// B's config names the seed and key files A generated under
// /tmp/tlsgate-a; here A's data dir is a test directory, so B is pointed at
// it through the environment (TLSGATE_NATS__NKEY_FILE,
// TLSGATE_SEALING__KEYS_FILE), as an operator could.
func TestFleet(t *testing.T) {
	a := startGateway(t, "gateway A", "fleet/1-gateway-a.yaml", "127.0.0.1:9090")
	t.Run("the NATS port refuses an anonymous client", func(t *testing.T) {
		if nc, err := nats.Connect("nats://127.0.0.1:4222", nats.Timeout(30*time.Second)); err == nil {
			nc.Close()
			t.Fatal("an anonymous client connected to gateway A's NATS port")
		}
	})
	b := startGateway(t, "gateway B", "fleet/2-gateway-b.yaml", "127.0.0.1:9091", fleetBEnv(t, a.dataDir)...)
	const addrA, addrB = "127.0.0.1:8443", "127.0.0.1:8444"

	for _, v := range opensslVersions {
		t.Run("openssl "+v.name+": made on A, resumed on B", func(t *testing.T) {
			opensslResume(t, addrA, addrB, "localhost", v.flag)
		})
	}
	t.Run("Go client TLS 1.3: made on B, resumed on A", func(t *testing.T) {
		c := newGoClient("localhost", tenantRoots(t, "web", a, b), tls.VersionTLS13)
		if _, _, err := c.get(t, addrB); err != nil {
			t.Fatal(err)
		}
		retryResume(t, func() (bool, string) {
			body, resumed, err := c.get(t, addrA)
			if err != nil {
				return false, err.Error()
			}
			return resumed, body
		})
	})
	t.Run("B resumed from the shared store", func(t *testing.T) {
		re := regexp.MustCompile(`tlsgate_resumption_attempts_total\{mechanism="tls13_psk",result="hit",tenant="web"\} [1-9]`)
		if m := b.metrics(t); !re.MatchString(m) {
			t.Errorf("gateway B's /metrics has no tls13_psk hit")
		}
	})
}

// startHTTPUpstream serves body on addr until the test ends.
func startHTTPUpstream(t *testing.T, addr, body string) {
	t.Helper()
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatalf("listen for the HTTP upstream: %v", err)
	}
	srv := &http.Server{
		Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			fmt.Fprintln(w, body)
		}),
		ReadHeaderTimeout: 5 * time.Second,
	}
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() { _ = srv.Close() })
}

// waitListening waits, at most a minute, until addr accepts TCP connections.
func waitListening(t *testing.T, addr string) {
	t.Helper()
	deadline := time.Now().Add(time.Minute)
	for {
		c, err := net.DialTimeout("tcp", addr, time.Second)
		if err == nil {
			c.Close()
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s not listening after a minute: %v", addr, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// fleetBEnv points gateway B's config at the seed and key files of the
// gateway A whose data dir is dirA.
func fleetBEnv(t *testing.T, dirA string) []string {
	t.Helper()
	return []string{
		"TLSGATE_NATS__NKEY_FILE=" + filepath.Join(dirA, "nats-gateway.nk"),
		"TLSGATE_SEALING__KEYS_FILE=" + filepath.Join(dirA, "sealing-keys.yaml"),
	}
}

// generatedByA makes, in a new directory, the files gateway A generates on
// its first start that B's config names: a gateway seed and a sealing key.
func generatedByA(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	if _, err := natskv.LoadOrCreateNkey(filepath.Join(dir, "nats-gateway.nk")); err != nil {
		t.Fatal(err)
	}
	key := make([]byte, 32)
	rand.Read(key)
	keys := fmt.Sprintf("keys:\n  - {id: generated, key: %s}\n", base64.StdEncoding.EncodeToString(key))
	if err := os.WriteFile(filepath.Join(dir, "sealing-keys.yaml"), []byte(keys), 0o600); err != nil {
		t.Fatal(err)
	}
	return dir
}
