package gateway

import (
	"crypto/tls"
	"net"
	"strings"
	"testing"
	"time"
)

// A tenant's curve_preferences are the key exchanges it accepts: by default
// Go's (the hybrid post-quantum X25519MLKEM768 for a Go client), else one of
// the list that the client offers (crypto/tls chooses in its own order); a
// client offering none of them gets no handshake.
func TestCurvePreferences(t *testing.T) {
	pq, classic, nist := cacheTenant("pq", "pq.test"), cacheTenant("classic", "classic.test"), cacheTenant("nist", "nist.test")
	classic.CurvePreferences = []string{"X25519"}
	nist.CurvePreferences = []string{"P-256"}
	either := cacheTenant("either", "either.test")
	either.CurvePreferences = []string{"P256", "X25519"}
	g := startGateway(t, testConfig(t, pq, classic, nist, either))
	for _, tt := range []struct {
		sni    string
		client []tls.CurveID // nil: Go's default
		want   tls.CurveID
	}{
		{sni: "pq.test", want: tls.X25519MLKEM768},
		{sni: "classic.test", want: tls.X25519},
		{sni: "nist.test", want: tls.CurveP256},
		{sni: "either.test", want: tls.X25519},
		{sni: "either.test", client: []tls.CurveID{tls.CurveP256}, want: tls.CurveP256},
	} {
		for _, v := range []uint16{tls.VersionTLS13, tls.VersionTLS12} {
			want := tt.want
			if v == tls.VersionTLS12 && want == tls.X25519MLKEM768 {
				want = tls.X25519 // hybrids are TLS 1.3 only
			}
			c, err := tls.DialWithDialer(&net.Dialer{Timeout: 30 * time.Second}, "tcp", g.addr(), &tls.Config{
				ServerName: tt.sni, InsecureSkipVerify: true, MinVersion: v, MaxVersion: v, CurvePreferences: tt.client})
			if err != nil {
				t.Fatalf("%s %s: %v", tt.sni, tls.VersionName(v), err)
			}
			if got := c.ConnectionState().CurveID; got != want {
				t.Errorf("%s %s, client %v: key exchange %v, want %v", tt.sni, tls.VersionName(v), tt.client, got, want)
			}
			c.Close()
		}
	}
	_, err := tls.DialWithDialer(&net.Dialer{Timeout: 30 * time.Second}, "tcp", g.addr(), &tls.Config{
		ServerName: "classic.test", InsecureSkipVerify: true, CurvePreferences: []tls.CurveID{tls.CurveP384}})
	if err == nil {
		t.Error("a client offering only P-384 got a handshake with a tenant that accepts X25519 only")
	}

	bad := cacheTenant("bad", "bad.test")
	bad.CurvePreferences = []string{"X25519", "X448", "x25519"}
	cfg := testConfig(t, pq)
	cfg.Tenants = append(cfg.Tenants, bad)
	cfg.FillDefaults()
	err = cfg.Validate()
	if err == nil || !strings.Contains(err.Error(), `tenants[1].curve_preferences[1]: "X448" is not one of`) {
		t.Errorf("an unknown curve: %v", err)
	}
}
