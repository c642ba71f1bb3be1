package gateway

import (
	"context"
	"crypto/tls"
	"encoding/base64"
	"errors"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tlsgate/tlsgate/gateway/config"
	"github.com/tlsgate/tlsgate/gateway/natskv"
	"github.com/tlsgate/tlsgate/guests/prebuilt"
	"github.com/tlsgate/tlsgate/internal/ja4"
)

// clientJA4 is the JA4 fingerprint of the ClientHello tryDial sends with o,
// as the gateway computes it: captured by a TLS server on loopback.
func clientJA4(t *testing.T, o clientOpts) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	got := make(chan string, 1)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			got <- ""
			return
		}
		defer c.Close()
		tls.Server(c, &tls.Config{GetConfigForClient: func(h *tls.ClientHelloInfo) (*tls.Config, error) {
			got <- ja4.FromClientHello(h).Fingerprint()
			return nil, errors.New("captured")
		}}).Handshake()
	}()
	tryDial(ln.Addr().String(), o)
	return <-got
}

// The reference edge guest (guests/edgepolicy), built into prebuilt, in
// both its roles: as the listener's client-hello guest it refuses a
// client whose JA4 fingerprint an operator put on the deny list in NATS,
// while other clients (OpenSSL's) are served; as the tenant's guest it
// presents the RSA certificate its config names for one server name.
func TestEdgePolicyGuest(t *testing.T) {
	wasm := filepath.Join(t.TempDir(), "edgepolicy.wasm")
	if err := os.WriteFile(wasm, prebuilt.EdgePolicy, 0o644); err != nil {
		t.Fatal(err)
	}
	shop := config.Tenant{
		Name: "shop", ServerNames: []string{"*.test"}, Default: true,
		Certificate:  config.Certificate{SelfSigned: true, KeyType: "ecdsa"},
		Certificates: []config.NamedCertificate{{Name: "rsa", Certificate: config.Certificate{SelfSigned: true, KeyType: "rsa"}}},
		Upstream:     config.BuiltinUpstream,
		Guest:        &config.Guest{Module: wasm, Config: "cert.legacy.test=rsa"},
	}
	cfg := testConfig(t, shop)
	cfg.NATS.Embedded.Listen = "127.0.0.1:0" // for kvOf, an operator's NATS client
	cfg.Listeners[0].ClientHello = &config.ListenerGuest{Module: wasm, Config: "kv_deny=true"}
	cfg.FillDefaults()
	g := startGateway(t, cfg)

	if k := keyOf(dial(t, g.addr(), clientOpts{sni: "legacy.test", version: tls.VersionTLS13}).state); k != "rsa" {
		t.Errorf("legacy.test: an %s certificate, want the rsa one its config names", k)
	}
	if k := keyOf(dial(t, g.addr(), clientOpts{sni: "www.test", version: tls.VersionTLS13}).state); k != "ecdsa" {
		t.Errorf("www.test: an %s certificate, want the default ecdsa one", k)
	}

	o := clientOpts{sni: "www.test", version: tls.VersionTLS13}
	fp := clientJA4(t, o)
	kv := kvOf(t, g, "shop")
	key := natskv.ListenerPrefix(config.ListenerName(cfg.Listeners[0].Address)) + base64.RawURLEncoding.EncodeToString([]byte("ja4/"+fp))
	if _, err := kv.Put(context.Background(), key, []byte("scanner")); err != nil {
		t.Fatal(err)
	}
	eventually(t, "Go's client (JA4 "+fp+") to be refused once on the deny list", func() error {
		if _, err := tryDial(g.addr(), o); err == nil {
			return errors.New("served")
		}
		return nil
	})
	openssl, err := exec.LookPath("openssl")
	if err != nil {
		t.Fatal("openssl is needed for this test: apt-get install openssl")
	}
	if out, err := exec.Command(openssl, "s_client", "-connect", g.addr(), "-servername", "www.test", "-brief").CombinedOutput(); err != nil ||
		strings.Contains(strings.ToLower(string(out)), "alert") {
		t.Errorf("openssl s_client (another fingerprint) was refused: %v\n%s", err, out)
	}
	if n := counterValueFor(t, g, "tlsgate_client_hello_total", map[string]string{"outcome": "refused"}); n < 1 {
		t.Errorf("refused ClientHellos = %v, want at least 1", n)
	}
}
