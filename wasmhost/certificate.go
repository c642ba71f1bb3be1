package wasmhost

import (
	"context"
	"fmt"

	"github.com/tlsgate/tlsgate/abi"
)

// CertificateInput is what a certificate call carries (abi
// ExportOnCertificate): the ClientHello, as for a client-hello call, and
// the tenant's certificates as EncodeCertificates encoded them.
type CertificateInput struct {
	Hello        ClientHelloInput
	Certificates []byte
}

// CertificateInfo names one of a tenant's certificates for the guest.
type CertificateInfo struct {
	Name string
	Key  abi.KeyType
}

// EncodeCertificates encodes a tenant's certificates as abi.InputCertificates
// carries them; callers encode once per tenant, not per handshake. Names
// must be 1 to abi.MaxCertificateNameLen bytes, and there may be at most
// abi.MaxCertificates of them.
func EncodeCertificates(certs []CertificateInfo) ([]byte, error) {
	if len(certs) > abi.MaxCertificates {
		return nil, fmt.Errorf("wasmhost: %d certificates, at most %d: %w", len(certs), abi.MaxCertificates, ErrInputTooLarge)
	}
	var b []byte
	for _, c := range certs {
		if len(c.Name) < 1 || len(c.Name) > abi.MaxCertificateNameLen {
			return nil, fmt.Errorf("wasmhost: certificate name of %d bytes, want 1 to %d: %w", len(c.Name), abi.MaxCertificateNameLen, ErrInputTooLarge)
		}
		b = append(append(append(b, byte(len(c.Name))), c.Name...), byte(c.Key))
	}
	return b, nil
}

// CertificateDecision is what a certificate guest decided.
type CertificateDecision struct {
	// Refuse: the guest returned StatusAccessDenied; the handshake is to
	// be refused.
	Refuse bool
	// Name is the certificate the guest named with set_certificate ("" when
	// it named none: the host chooses).
	Name string
}

// Certificate runs the guest's tlsgate_on_certificate. A guest error is
// returned as for Fetch; the caller then chooses as if there were no hook.
func (p *Pool) Certificate(ctx context.Context, in CertificateInput) (CertificateDecision, error) {
	var d CertificateDecision
	err := p.call(ctx, abi.CallCertificate, func() error {
		if len(in.Certificates) > abi.MaxInputLen {
			return fmt.Errorf("wasmhost: certificates input of %d bytes: %w", len(in.Certificates), ErrInputTooLarge)
		}
		return in.Hello.check()
	}, func(cs *callState) {
		cs.hello, cs.serverName, cs.clientAddr = &in.Hello, in.Hello.ServerName, in.Hello.ClientAddr
		cs.certs = in.Certificates
	}, p.decisionOutcome(abi.ExportOnCertificate, &d.Name, &d.Refuse))
	return d, err
}
