//go:build !wasip1

package sdktest

import (
	"context"
	"testing"

	"github.com/tlsgate/tlsgate/abi"
	"github.com/tlsgate/tlsgate/wasmhost"
)

// checkHelloDecisions runs the client-hello hook of an SDK's test guest for
// the server names both SDKs' guests decide on, and checks each decision.
func checkHelloDecisions(t *testing.T, ctx context.Context, p *wasmhost.Pool, in wasmhost.ClientHelloInput) {
	t.Helper()
	for _, tt := range []struct {
		sni  string
		want wasmhost.HelloDecision
	}{
		{"shop.test", wasmhost.HelloDecision{}},
		{"deny.test", wasmhost.HelloDecision{Refuse: true}},
		{"route.test", wasmhost.HelloDecision{Route: "routed"}},
	} {
		in.ServerName = tt.sni
		got, err := p.ClientHello(ctx, in)
		if err != nil || got != tt.want {
			t.Fatalf("%s: decision %+v, %v; want %+v", tt.sni, got, err, tt.want)
		}
	}
}

// checkCertificateDecisions does the same for the certificate hook, with
// the certificates "default" (ECDSA) and "rsa".
func checkCertificateDecisions(t *testing.T, ctx context.Context, p *wasmhost.Pool, in wasmhost.CertificateInput) {
	t.Helper()
	certs, err := wasmhost.EncodeCertificates([]wasmhost.CertificateInfo{{Name: "default", Key: abi.KeyECDSA}, {Name: "rsa", Key: abi.KeyRSA}})
	if err != nil {
		t.Fatal(err)
	}
	in.Certificates = certs
	for _, tt := range []struct {
		sni  string
		want wasmhost.CertificateDecision
	}{
		{"shop.test", wasmhost.CertificateDecision{}},
		{"deny.test", wasmhost.CertificateDecision{Refuse: true}},
		{"missing.test", wasmhost.CertificateDecision{Name: "missing"}},
		{"rsa.test", wasmhost.CertificateDecision{Name: "rsa"}},
	} {
		in.Hello.ServerName = tt.sni
		got, err := p.Certificate(ctx, in)
		if err != nil || got != tt.want {
			t.Fatalf("%s: decision %+v, %v; want %+v", tt.sni, got, err, tt.want)
		}
	}
}
