package gateway

import (
	"context"
	"crypto/ecdsa"
	"crypto/rsa"
	"crypto/tls"
	"fmt"
	"os/exec"
	"strings"
	"testing"

	"github.com/tlsgate/tlsgate/gateway/config"
)

// keyOf names the kind of key the server's leaf certificate has.
func keyOf(st tls.ConnectionState) string {
	if len(st.PeerCertificates) == 0 {
		return "none"
	}
	switch st.PeerCertificates[0].PublicKey.(type) {
	case *ecdsa.PublicKey:
		return "ecdsa"
	case *rsa.PublicKey:
		return "rsa"
	}
	return "other"
}

// A tenant's certificate guest (testdata/cert_pick.wat) chooses between
// its ECDSA default certificate and an RSA one by SNI and by the
// signature schemes the client offers, with Go's client and OpenSSL's; it
// refuses a handshake; a name the tenant lacks, or a trap, gets the
// gateway's choice, never a failed handshake; a resumed TLS 1.3 handshake
// asks no guest. Every choice is counted.
func TestCertificateGuest(t *testing.T) {
	shop := config.Tenant{
		Name: "shop", ServerNames: []string{"*.test"}, Default: true,
		Certificate:  config.Certificate{SelfSigned: true, KeyType: "ecdsa"},
		Certificates: []config.NamedCertificate{{Name: "rsa", Certificate: config.Certificate{SelfSigned: true, KeyType: "rsa"}}},
		Upstream:     config.BuiltinUpstream,
		Guest:        &config.Guest{Module: watGuest(t, "cert_pick")},
	}
	cfg := testConfig(t, shop)
	report, err := Check(context.Background(), cfg)
	if err != nil {
		t.Fatalf("check: %v\n%s", err, strings.Join(report, "\n"))
	}
	g := startGateway(t, cfg)
	for _, tt := range []struct {
		sni, key, outcome string
	}{
		{"a.test", "ecdsa", "default"},
		{"rsa.test", "rsa", "chosen"},
		{"sig.test", "ecdsa", "chosen"}, // Go's client offers ECDSA
		{"unknown.test", "ecdsa", "unknown_name"},
		{"trap.test", "ecdsa", "error"},
	} {
		for _, v := range []uint16{tls.VersionTLS13, tls.VersionTLS12} {
			before := counterValueFor(t, g, "tlsgate_certificate_choices_total", map[string]string{"outcome": tt.outcome})
			got := dial(t, g.addr(), clientOpts{sni: tt.sni, version: v})
			if k := keyOf(got.state); k != tt.key {
				t.Errorf("%s over %s: an %s certificate, want %s", tt.sni, tls.VersionName(v), k, tt.key)
			}
			if n := counterValueFor(t, g, "tlsgate_certificate_choices_total", map[string]string{"outcome": tt.outcome}); n != before+1 {
				t.Errorf("%s over %s: tlsgate_certificate_choices_total{outcome=%q} went from %v to %v, want one more", tt.sni, tls.VersionName(v), tt.outcome, before, n)
			}
		}
	}
	if _, err := tryDial(g.addr(), clientOpts{sni: "deny.test", version: tls.VersionTLS13}); err == nil {
		t.Fatal("deny.test: the handshake the guest refused succeeded")
	}
	if n := counterValueFor(t, g, "tlsgate_certificate_choices_total", map[string]string{"outcome": "refused"}); n != 1 {
		t.Errorf("refused = %v, want 1", n)
	}

	// A resumed TLS 1.3 handshake presents no certificate: no guest call.
	o := clientOpts{sni: "a.test", version: tls.VersionTLS13, cache: tls.NewLRUClientSessionCache(4)}
	dial(t, g.addr(), o)
	before := counterValueFor(t, g, "tlsgate_certificate_choices_total", nil)
	if v := dial(t, g.addr(), o); !v.state.DidResume {
		t.Fatal("the second TLS 1.3 connection did not resume")
	}
	if n := counterValueFor(t, g, "tlsgate_certificate_choices_total", nil); n != before {
		t.Errorf("a resumed TLS 1.3 handshake asked the certificate guest (%v choices, was %v)", n, before)
	}

	openssl, err := exec.LookPath("openssl")
	if err != nil {
		t.Fatal("openssl is needed for this test: apt-get install openssl")
	}
	// By signature support: offered only RSA-PSS, the guest names "rsa";
	// offered ECDSA too, "default".
	for _, tt := range []struct{ sigalgs, want string }{
		{"rsa_pss_rsae_sha256", "rsaEncryption"},
		{"ecdsa_secp256r1_sha256:rsa_pss_rsae_sha256", "id-ecPublicKey"},
	} {
		out, err := exec.Command(openssl, "s_client", "-connect", g.addr(), "-servername", "sig.test",
			"-sigalgs", tt.sigalgs, "-showcerts").CombinedOutput()
		if err != nil {
			t.Fatalf("openssl s_client -sigalgs %s: %v\n%s", tt.sigalgs, err, out)
		}
		cert := exec.Command(openssl, "x509", "-noout", "-text")
		cert.Stdin = strings.NewReader(string(out))
		text, err := cert.CombinedOutput()
		if err != nil || !strings.Contains(string(text), "Public Key Algorithm: "+tt.want) {
			t.Errorf("openssl s_client -sigalgs %s: the server's certificate is not %s (%v)\n%s", tt.sigalgs, tt.want, err, text)
		}
	}
	if out, err := exec.Command(openssl, "s_client", "-connect", g.addr(), "-servername", "deny.test", "-brief").CombinedOutput(); err == nil ||
		!strings.Contains(strings.ToLower(string(out)), "alert") {
		t.Errorf("openssl s_client to deny.test: %v, want a handshake ended by an alert\n%s", err, out)
	}
	eventually(t, "the refused handshakes to be counted", func() error {
		if n := counterValueFor(t, g, "tlsgate_certificate_choices_total", map[string]string{"outcome": "refused"}); n != 2 {
			return fmt.Errorf("refused = %v, want 2", n)
		}
		return nil
	})
}
