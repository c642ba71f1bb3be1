package gateway

import (
	"context"
	"crypto/tls"
	"encoding/base64"
	"fmt"
	"os/exec"
	"regexp"
	"strings"
	"testing"

	"github.com/tlsgate/tlsgate/gateway/config"
	"github.com/tlsgate/tlsgate/gateway/natskv"
)

// servedTenant is the tenant the builtin page names.
var servedTenant = regexp.MustCompile(`(?m)^tenant\s*:?\s*(\S+)`)

// A listener's client-hello guest (testdata/hello_route.wat) refuses,
// routes and lets through handshakes by what the client sent, with Go's
// client and OpenSSL's; a guest that fails or traps leaves the handshake to
// SNI routing, never refused; every decision is counted.
func TestClientHelloGuest(t *testing.T) {
	a := cacheTenant("a", "a.test")
	a.Default = true
	cfg := testConfig(t, a, cacheTenant("routed", "routed.test"))
	cfg.Listeners[0].ClientHello = &config.ListenerGuest{Module: watGuest(t, "hello_route")}
	cfg.FillDefaults()
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	report, err := Check(context.Background(), cfg)
	if err != nil || !strings.Contains(strings.Join(report, "\n"), "listeners[0]: client-hello guest hello_route.wasm") {
		t.Fatalf("check: %v, report without the listener's guest:\n%s", err, strings.Join(report, "\n"))
	}
	g := startGateway(t, cfg)
	for _, tt := range []struct {
		sni, tenant, outcome string
	}{
		{"a.test", "a", "continue"},
		{"route.test", "routed", "routed"},
		{"bad.test", "a", "error"},  // the guest's BAD_ARGUMENT: by SNI, to the default tenant
		{"trap.test", "a", "error"}, // a trap likewise
	} {
		for _, v := range []uint16{tls.VersionTLS13, tls.VersionTLS12} {
			got := dial(t, g.addr(), clientOpts{sni: tt.sni, version: v})
			m := servedTenant.FindStringSubmatch(got.body)
			if m == nil || m[1] != tt.tenant {
				t.Errorf("%s over %s: served by %q, want %q\n%s", tt.sni, tls.VersionName(v), m, tt.tenant, got.body)
			}
		}
		if n := counterValueFor(t, g, "tlsgate_client_hello_total", map[string]string{"outcome": tt.outcome}); n < 2 {
			t.Errorf("%s: tlsgate_client_hello_total{outcome=%q} = %v, want at least 2", tt.sni, tt.outcome, n)
		}
	}
	if _, err := tryDial(g.addr(), clientOpts{sni: "deny.test", version: tls.VersionTLS13}); err == nil {
		t.Fatal("deny.test: the handshake the guest refused succeeded")
	}
	if n := counterValueFor(t, g, "tlsgate_client_hello_total", map[string]string{"outcome": "refused"}); n != 1 {
		t.Errorf("refused = %v, want 1", n)
	}
	// Counted once the server's side of the handshake has ended, which may
	// be after the client saw the alert.
	eventually(t, "the refused handshake to be counted", func() error {
		if n := counterValue(t, g, "tlsgate_handshakes_unrouted_total", "reason", "refused"); n != 1 {
			return fmt.Errorf("unrouted handshakes refused = %v, want 1", n)
		}
		return nil
	})

	openssl, err := exec.LookPath("openssl")
	if err != nil {
		t.Fatal("openssl is needed for this test: apt-get install openssl")
	}
	sclient := func(sni string) (string, error) {
		out, err := exec.Command(openssl, "s_client", "-connect", g.addr(), "-servername", sni, "-brief").CombinedOutput()
		return string(out), err
	}
	if out, err := sclient("deny.test"); err == nil || !strings.Contains(strings.ToLower(out), "alert") {
		t.Errorf("openssl s_client to deny.test: %v, want a handshake ended by an alert\n%s", err, out)
	}
	if out, err := sclient("route.test"); err != nil || !strings.Contains(out, "routed.test") {
		t.Errorf("openssl s_client to route.test: %v, want the routed tenant's certificate (routed.test)\n%s", err, out)
	}
}

// A listener's client-hello guest comes and goes with a reload, as tenants'
// guests do: only its address needs a restart.
func TestClientHelloGuestReloads(t *testing.T) {
	cfg := testConfig(t, cacheTenant("a", "a.test"), cacheTenant("deny", "deny.test"))
	g := startGateway(t, cfg)
	dial(t, g.addr(), clientOpts{sni: "deny.test", version: tls.VersionTLS13})
	next := *cfg
	next.Listeners = []config.Listener{{Address: cfg.Listeners[0].Address,
		ClientHello: &config.ListenerGuest{Module: watGuest(t, "hello_route")}}}
	next.FillDefaults()
	if err := g.Reload(context.Background(), &next); err != nil {
		t.Fatalf("Reload with a client-hello guest: %v", err)
	}
	if _, err := tryDial(g.addr(), clientOpts{sni: "deny.test", version: tls.VersionTLS13}); err == nil {
		t.Fatal("deny.test was not refused after the reload that added the guest")
	}
	dial(t, g.addr(), clientOpts{sni: "a.test", version: tls.VersionTLS13})
	if err := g.Reload(context.Background(), cfg); err != nil {
		t.Fatalf("Reload without it: %v", err)
	}
	dial(t, g.addr(), clientOpts{sni: "deny.test", version: tls.VersionTLS13})
}

// A listener's client-hello guest keeps a deny list in its own key-value
// namespace (testdata/hello_kv.wat: refuse a server name whose key is
// present): an operator adds a name in NATS, and the next handshake for it
// is refused; taken off, the name is served again.
func TestClientHelloGuestKV(t *testing.T) {
	cfg := testConfig(t, cacheTenant("a", "a.test"), cacheTenant("b", "b.test"))
	cfg.NATS.Embedded.Listen = "127.0.0.1:0"
	cfg.Listeners[0].ClientHello = &config.ListenerGuest{Module: watGuest(t, "hello_kv")}
	cfg.FillDefaults()
	g := startGateway(t, cfg)
	dial(t, g.addr(), clientOpts{sni: "b.test", version: tls.VersionTLS13})
	kv := kvOf(t, g, "a")
	// The namespace is named after the configured address (what a restart keeps).
	key := natskv.ListenerPrefix(config.ListenerName(cfg.Listeners[0].Address)) + base64.RawURLEncoding.EncodeToString([]byte("b.test"))
	if _, err := kv.Put(context.Background(), key, []byte("deny")); err != nil {
		t.Fatal(err)
	}
	if _, err := tryDial(g.addr(), clientOpts{sni: "b.test", version: tls.VersionTLS13}); err == nil {
		t.Fatal("b.test is in the listener's deny list, and its handshake succeeded")
	}
	dial(t, g.addr(), clientOpts{sni: "a.test", version: tls.VersionTLS13})
	if err := kv.Delete(context.Background(), key); err != nil {
		t.Fatal(err)
	}
	eventually(t, "b.test to be served again once off the deny list", func() error {
		_, err := tryDial(g.addr(), clientOpts{sni: "b.test", version: tls.VersionTLS13})
		return err
	})
}
