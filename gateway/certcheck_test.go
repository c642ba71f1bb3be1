package gateway

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"

	"github.com/tlsgate/tlsgate/gateway/config"
)

// writeCert writes a self-signed ECDSA certificate for names, valid from
// notBefore to notAfter, and its key, into dir; it returns the tenant
// certificate settings that name the files.
func writeCert(t *testing.T, dir, base string, names []string, notBefore, notAfter time.Time) config.Certificate {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(time.Now().UnixNano()), Subject: pkix.Name{CommonName: names[0]},
		DNSNames: names, NotBefore: notBefore, NotAfter: notAfter, KeyUsage: x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	kder, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	c := config.Certificate{CertFile: filepath.Join(dir, base+".crt"), KeyFile: filepath.Join(dir, base+".key")}
	os.WriteFile(c.CertFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600)
	os.WriteFile(c.KeyFile, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kder}), 0o600)
	return c
}

// TestCheckCertificates: check (and serve) refuse a certificate that does
// not cover the tenant's names unless told otherwise, and warn of one that
// expired, is not valid yet, or expires within 30 days.
func TestCheckCertificates(t *testing.T) {
	dir := t.TempDir()
	now := time.Now()
	year := 365 * 24 * time.Hour
	tenant := func(names []string, c config.Certificate, more ...config.NamedCertificate) config.Tenant {
		return config.Tenant{Name: "a", ServerNames: names, Certificate: c, Certificates: more, Upstream: config.BuiltinUpstream}
	}
	good := writeCert(t, dir, "good", []string{"a.test", "b.test"}, now.Add(-time.Hour), now.Add(year))
	onlyA := writeCert(t, dir, "only-a", []string{"a.test"}, now.Add(-time.Hour), now.Add(year))
	other := writeCert(t, dir, "other", []string{"other.test"}, now.Add(-time.Hour), now.Add(year))
	wild := writeCert(t, dir, "wild", []string{"*.w.test"}, now.Add(-time.Hour), now.Add(year))
	expired := writeCert(t, dir, "expired", []string{"a.test"}, now.Add(-year), now.Add(-24*time.Hour))
	future := writeCert(t, dir, "future", []string{"a.test"}, now.Add(48*time.Hour), now.Add(year))
	soon := writeCert(t, dir, "soon", []string{"a.test"}, now.Add(-year), now.Add(10*24*time.Hour))
	skipped := onlyA
	skipped.SkipNameCheck = true
	for _, tt := range []struct {
		name    string
		tenant  config.Tenant
		wantErr string
		warn    string
	}{
		{name: "covers every name", tenant: tenant([]string{"a.test", "b.test"}, good)},
		{name: "misses a name", tenant: tenant([]string{"a.test", "b.test"}, onlyA),
			wantErr: `tenants[0].certificate: the certificate (names ["a.test"]) does not cover server_names ["b.test"] (skip_name_check: true serves it anyway)`},
		{name: "skip_name_check", tenant: tenant([]string{"a.test", "b.test"}, skipped)},
		{name: "a wildcard name needs the wildcard", tenant: tenant([]string{"*.w.test"}, wild)},
		{name: "a wildcard name is not covered by one name", tenant: tenant([]string{"*.w.test"}, onlyA), wantErr: `does not cover server_names ["*.w.test"]`},
		{name: "a further certificate covers one name", tenant: tenant([]string{"a.test", "b.test"}, good, config.NamedCertificate{Name: "rsa", Certificate: onlyA})},
		{name: "a further certificate covers none", tenant: tenant([]string{"a.test", "b.test"}, good, config.NamedCertificate{Name: "x", Certificate: other}),
			wantErr: `tenants[0].certificates[0]: the certificate (names ["other.test"]) covers none of the tenant's server_names`},
		{name: "expired", tenant: tenant([]string{"a.test"}, expired), warn: "warning: tenants[0].certificate: expired on " + now.Add(-24*time.Hour).UTC().Format(time.DateOnly)},
		{name: "not valid yet", tenant: tenant([]string{"a.test"}, future), warn: "warning: tenants[0].certificate: is not valid before"},
		{name: "expires soon", tenant: tenant([]string{"a.test"}, soon), warn: "warning: tenants[0].certificate: expires in 9 day(s)"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			cfg := testConfig(t, tt.tenant)
			report, err := Check(context.Background(), cfg)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("Check error = %v, want one containing %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("Check: %v", err)
			}
			joined := strings.Join(report, "\n")
			if tt.warn != "" && !strings.Contains(joined, tt.warn) {
				t.Errorf("report lacks %q:\n%s", tt.warn, joined)
			}
			if tt.warn == "" && strings.Contains(joined, "warning:") {
				t.Errorf("report warns of a sound certificate:\n%s", joined)
			}
		})
	}
}

// The expiry of every certificate a tenant serves is a metric.
func TestCertificateExpiryMetric(t *testing.T) {
	dir := t.TempDir()
	end := time.Now().Add(90 * 24 * time.Hour).Truncate(time.Second)
	c := writeCert(t, dir, "a", []string{"a.test"}, time.Now().Add(-time.Hour), end)
	rsa := writeCert(t, dir, "a2", []string{"a.test"}, time.Now().Add(-time.Hour), end.Add(time.Hour))
	g := startGateway(t, testConfig(t, config.Tenant{Name: "a", ServerNames: []string{"a.test"}, Certificate: c,
		Certificates: []config.NamedCertificate{{Name: "second", Certificate: rsa}}, Upstream: config.BuiltinUpstream}))
	for name, want := range map[string]time.Time{"default": end, "second": end.Add(time.Hour)} {
		got := sumMetric(t, g, "tlsgate_certificate_expiry_timestamp_seconds", func(m *dto.Metric) float64 {
			if hasLabel(m, "tenant", "a") && hasLabel(m, "name", name) {
				return m.GetGauge().GetValue()
			}
			return 0
		})
		if got != float64(want.Unix()) {
			t.Errorf("expiry of %s = %v, want %v", name, got, want.Unix())
		}
	}
}

// A certificate renewed on disk (key and certificate replaced by rename, as
// certbot and most tools do) is served without a SIGHUP, and no handshake
// fails while it is swapped in.
func TestRenewedCertificateFileIsServed(t *testing.T) {
	dir := t.TempDir()
	now := time.Now()
	c := writeCert(t, dir, "a", []string{"a.test"}, now.Add(-time.Hour), now.Add(90*24*time.Hour))
	g := startGateway(t, testConfig(t, config.Tenant{Name: "a", ServerNames: []string{"a.test"}, Certificate: c, Upstream: config.BuiltinUpstream}))
	old := dial(t, g.addr(), clientOpts{sni: "a.test", version: tls.VersionTLS13}).state.PeerCertificates[0].SerialNumber

	// The renewal: new files beside the old ones, renamed over them.
	next := writeCert(t, dir, "a.new", []string{"a.test"}, now.Add(-time.Hour), now.Add(180*24*time.Hour))
	if err := os.Rename(next.KeyFile, c.KeyFile); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(next.CertFile, c.CertFile); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(time.Minute)
	for dials := 0; ; dials++ {
		v, err := tryDial(g.addr(), clientOpts{sni: "a.test", version: tls.VersionTLS13})
		if err != nil {
			t.Fatalf("handshake %d failed while the certificate was swapped: %v", dials, err)
		}
		if v.state.PeerCertificates[0].SerialNumber.Cmp(old) != 0 {
			break // the renewed certificate
		}
		if time.Now().After(deadline) || dials > 5000 {
			t.Fatalf("the renewed certificate was not served after %d handshakes", dials)
		}
		time.Sleep(10 * time.Millisecond)
	}
	if got := g.snap.Load().tenant("a").cert.Leaf.NotAfter; got.Sub(now) < 170*24*time.Hour {
		t.Errorf("serving a certificate ending %v, want the renewed one", got)
	}
}
