package guest

import "github.com/tlsgate/tlsgate/abi"

// The certificate hook (ABI 1.1): a tenant's guest exports
//
//	//go:wasmexport tlsgate_on_certificate
//	func onCertificate() abi.Status { ... }
//
// and returns abi.StatusOK to present the certificate SetCertificate named
// (or, if it named none, the gateway's own choice: the first of
// Certificates the client supports), or abi.StatusAccessDenied to refuse
// the handshake. The ClientHello reads as in the client-hello hook
// (ServerName, SignatureSchemes, JA4, ...). The guest names a certificate;
// it never sees a private key.

// Certificate is one of the tenant's certificates, as Certificates lists
// them.
type Certificate struct {
	Name string
	Key  abi.KeyType // abi.KeyECDSA, abi.KeyRSA, ...
}

// Certificates returns the tenant's certificates, in its configuration's
// order: the default one, named "default", first. Empty outside a
// certificate call.
func Certificates() []Certificate {
	b := inputBytes(abi.InputCertificates)
	var out []Certificate
	for len(b) > 0 {
		n := int(b[0])
		if 2+n > len(b) {
			break // malformed: the host never sends it
		}
		out = append(out, Certificate{Name: string(b[1 : 1+n]), Key: abi.KeyType(b[1+n])})
		b = b[2+n:]
	}
	return out
}

// SetCertificate names the certificate to present, during a certificate
// call; it takes effect when the export returns abi.StatusOK. A later call
// replaces the earlier one; a name the tenant has no certificate of, or a
// certificate the client cannot verify, leaves the choice to the gateway.
//
// Errors: ErrBadArgument outside a certificate call or for an empty name,
// ErrLimitExceeded past abi.MaxCertificateNameLen bytes.
func SetCertificate(name string) error {
	switch {
	case name == "":
		return &StatusError{Op: "set_certificate", Status: abi.StatusBadArgument}
	case len(name) > abi.MaxCertificateNameLen:
		return &StatusError{Op: "set_certificate", Status: abi.StatusLimitExceeded}
	}
	b := []byte(name)
	return statusErr("set_certificate", abi.Status(hostSetCertificate(ptr(b), int32(len(b)))))
}

// AcceptsECDSA reports whether the client offered an ECDSA signature
// scheme (ecdsa_secp256r1_sha256, _secp384r1_sha384 or _secp521r1_sha512):
// whether an ECDSA certificate may be presented to it.
func AcceptsECDSA() bool {
	for _, s := range SignatureSchemes() {
		if s == 0x0403 || s == 0x0503 || s == 0x0603 {
			return true
		}
	}
	return false
}
