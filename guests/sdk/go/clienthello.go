package guest

import "github.com/tlsgate/tlsgate/abi"

// The client-hello hook (ABI 1.1): a guest exports
//
//	//go:wasmexport tlsgate_on_client_hello
//	func onClientHello() abi.Status { ... }
//
// and returns abi.StatusOK to go on (to the tenant SetRoute named, or by
// SNI), or abi.StatusAccessDenied to refuse the handshake. ServerName and
// ClientAddr read as in the session hooks; the accessors below read the
// rest of the ClientHello (empty outside a client-hello call). Lists are in
// the order the client sent them, GREASE values included. A guest that
// calls none of SetRoute needs no 1.1 host: the import is linked only when
// used.

// SetRoute names the tenant the handshake goes to, during a client-hello
// call; it takes effect when the export returns abi.StatusOK. A later call
// replaces the earlier one; a name that is not a tenant of the listener
// routes by SNI.
//
// Errors: ErrBadArgument outside a client-hello call or for an empty name,
// ErrLimitExceeded past abi.MaxTenantNameLen bytes.
func SetRoute(tenant string) error {
	switch {
	case tenant == "":
		return &StatusError{Op: "set_route", Status: abi.StatusBadArgument}
	case len(tenant) > abi.MaxTenantNameLen:
		return &StatusError{Op: "set_route", Status: abi.StatusLimitExceeded}
	}
	b := []byte(tenant)
	return statusErr("set_route", abi.Status(hostSetRoute(ptr(b), int32(len(b)))))
}

// OfferedALPN returns the application protocols the client offered.
func OfferedALPN() []string {
	b := inputBytes(abi.InputALPNOffered)
	var out []string
	for len(b) > 0 {
		n := int(b[0])
		if 1+n > len(b) {
			break // malformed: the host never sends it
		}
		out = append(out, string(b[1:1+n]))
		b = b[1+n:]
	}
	return out
}

// SupportedVersions returns the TLS versions the client offered (0x0304 is TLS 1.3).
func SupportedVersions() []uint16 { return inputU16s(abi.InputSupportedVersions) }

// CipherSuites returns the cipher suites the client offered.
func CipherSuites() []uint16 { return inputU16s(abi.InputCipherSuites) }

// SupportedGroups returns the key exchange groups the client offered.
func SupportedGroups() []uint16 { return inputU16s(abi.InputSupportedGroups) }

// SignatureSchemes returns the signature schemes the client accepts.
func SignatureSchemes() []uint16 { return inputU16s(abi.InputSignatureSchemes) }

// Extensions returns the ClientHello's extension types, in order.
func Extensions() []uint16 { return inputU16s(abi.InputExtensions) }

// JA4 returns the ClientHello's JA4 fingerprint, computed by the host,
// e.g. "t13d1516h2_8daaf6152771_e5627efa2ab1".
func JA4() string { return string(inputBytes(abi.InputJA4)) }

// inputU16s decodes a list input: 2 bytes per value, little-endian.
func inputU16s(kind abi.InputKind) []uint16 {
	b := inputBytes(kind)
	out := make([]uint16, len(b)/2)
	for i := range out {
		out[i] = uint16(b[2*i]) | uint16(b[2*i+1])<<8
	}
	return out
}
