package gateway

import (
	"context"
	"crypto/tls"
	"errors"

	"github.com/tlsgate/tlsgate/gateway/config"
	"github.com/tlsgate/tlsgate/wasmhost"
)

// errCertRefused is what crypto/tls gets when a tenant's certificate guest
// refuses a handshake: the client receives an alert.
var errCertRefused = errors.New("gateway: handshake refused by the tenant's certificate guest")

// registryCertNames names a registry tenant's one certificate for its
// certificate guest.
var registryCertNames = []string{config.DefaultCertificateName}

// certificatePicker returns the GetCertificate of a connection to t, whose
// guest exports tlsgate_on_certificate: the guest chooses among certs
// (named names, encoded as in); crypto/tls calls it only when it needs a
// certificate (section 8 of docs/abi.md).
func (l *listener) certificatePicker(t *tenant, certs []tls.Certificate, names []string, in []byte) func(*tls.ClientHelloInfo) (*tls.Certificate, error) {
	return func(hello *tls.ClientHelloInfo) (*tls.Certificate, error) {
		outcome, cert, err := pickCertificate(t, certs, names, in, hello)
		l.g.metrics.certChoice.WithLabelValues(t.name, outcome).Inc()
		if outcome == "error" {
			l.g.log.Debug("certificate guest failed: the gateway chooses", "tenant", t.name, "err", err)
		}
		if outcome == "refused" {
			return nil, errCertRefused
		}
		return cert, nil
	}
}

// pickCertificate asks t's guest which of certs to present; a guest that
// fails, names none, or names one the tenant lacks or the client cannot
// verify gets the gateway's own choice (defaultCertificate).
func pickCertificate(t *tenant, certs []tls.Certificate, names []string, in []byte, hello *tls.ClientHelloInfo) (outcome string, cert *tls.Certificate, err error) {
	if in == nil { // a registry tenant's, encoded per handshake: it has one
		in, _ = wasmhost.EncodeCertificates([]wasmhost.CertificateInfo{{Name: names[0], Key: keyType(certs[0])}})
	}
	ctx, cancel := context.WithTimeout(hello.Context(), t.cfg.Guest.CertificateDeadline)
	d, err := t.pool.Certificate(ctx, wasmhost.CertificateInput{Hello: helloInput(hello), Certificates: in})
	cancel()
	switch {
	case err != nil:
		return "error", defaultCertificate(hello, certs), err
	case d.Refuse:
		return "refused", nil, nil
	case d.Name == "":
		return "default", defaultCertificate(hello, certs), nil
	}
	for i, n := range names {
		if n != d.Name || i >= len(certs) {
			continue
		}
		if hello.SupportsCertificate(&certs[i]) != nil {
			return "unsupported", defaultCertificate(hello, certs), nil
		}
		return "chosen", &certs[i], nil
	}
	return "unknown_name", defaultCertificate(hello, certs), nil
}

// defaultCertificate is crypto/tls's own choice among a tenant's
// certificates: the first the client supports, else the first.
func defaultCertificate(hello *tls.ClientHelloInfo, certs []tls.Certificate) *tls.Certificate {
	for i := range certs {
		if len(certs) == 1 || hello.SupportsCertificate(&certs[i]) == nil {
			return &certs[i]
		}
	}
	return &certs[0]
}

// certNames are the names of a file tenant's certificates, in order.
func (t *tenant) certNames() []string {
	names := make([]string, len(t.certs))
	for i, c := range t.certs {
		names[i] = c.name
	}
	return names
}
