// Package ja4 computes the JA4 fingerprint of a TLS ClientHello, as FoxIO
// specifies it (github.com/FoxIO-LLC/ja4, technical_details/JA4.md), for
// TLS over TCP: a readable part (version, SNI, counts, ALPN), a hash of
// the cipher suites and a hash of the extensions and signature algorithms.
// GREASE values are ignored everywhere.
package ja4

import (
	"crypto/sha256"
	"crypto/tls"
	"encoding/hex"
	"slices"
	"strconv"
	"strings"
)

// Hello is what JA4 reads of a ClientHello, each list in the order the
// client sent it, GREASE values included (they are skipped here).
type Hello struct {
	// Versions are the supported_versions extension's values, or only the
	// legacy protocol version when the extension is absent.
	Versions []uint16
	Ciphers  []uint16
	// Extensions are the extension types; SNI is "present" when 0x0000 is
	// among them.
	Extensions []uint16
	// SignatureAlgorithms are the signature_algorithms extension's values.
	SignatureAlgorithms []uint16
	// ALPN are the application protocols offered.
	ALPN []string
}

// FromClientHello is the Hello of what crypto/tls parsed.
func FromClientHello(ch *tls.ClientHelloInfo) Hello {
	h := Hello{
		Versions:   OfferedVersions(ch),
		Ciphers:    ch.CipherSuites,
		Extensions: ch.Extensions,
		ALPN:       ch.SupportedProtos,
	}
	h.SignatureAlgorithms = make([]uint16, len(ch.SignatureSchemes))
	for i, s := range ch.SignatureSchemes {
		h.SignatureAlgorithms[i] = uint16(s)
	}
	return h
}

// OfferedVersions returns the supported_versions extension's values, or,
// when the client sent none, its legacy version alone. crypto/tls fills
// ClientHelloInfo.SupportedVersions with every version up to the legacy one
// in that case; its first value is the legacy version. (For a legacy
// version crypto/tls does not know, SSL 3.0 or older, it gives none, and
// JA4's version reads "00" where FoxIO's would read "s3".)
func OfferedVersions(ch *tls.ClientHelloInfo) []uint16 {
	if slices.Contains(ch.Extensions, 0x002b) || len(ch.SupportedVersions) == 0 {
		return ch.SupportedVersions
	}
	return ch.SupportedVersions[:1]
}

// Fingerprint returns the JA4 fingerprint, e.g. t13d1516h2_8daaf6152771_e5627efa2ab1.
func (h Hello) Fingerprint() string {
	a, ciphers, exts := h.parts()
	return a + "_" + hash12(ciphers) + "_" + hash12(exts)
}

// Raw returns JA4_r: the same with the lists themselves instead of their
// hashes (sorted ciphers; sorted extensions, then the signature algorithms).
func (h Hello) Raw() string {
	a, ciphers, exts := h.parts()
	return a + "_" + ciphers + "_" + exts
}

// parts returns the readable part and the two strings that are hashed.
func (h Hello) parts() (a, ciphers, exts string) {
	ciph := withoutGREASE(h.Ciphers)
	ext := withoutGREASE(h.Extensions)
	var b strings.Builder
	b.WriteString("t")
	b.WriteString(version(h.Versions))
	if slices.Contains(ext, 0x0000) {
		b.WriteByte('d')
	} else {
		b.WriteByte('i')
	}
	b.WriteString(count(len(ciph)))
	b.WriteString(count(len(ext)))
	b.WriteString(alpn(h.ALPN))

	slices.Sort(ciph)
	sorted := slices.DeleteFunc(slices.Clone(ext), func(e uint16) bool { return e == 0x0000 || e == 0x0010 })
	slices.Sort(sorted)
	exts = hexList(sorted)
	if sigs := withoutGREASE(h.SignatureAlgorithms); len(sigs) > 0 && len(sorted) > 0 {
		exts += "_" + hexList(sigs)
	}
	return b.String(), hexList(ciph), exts
}

// isGREASE reports whether v is a GREASE value (RFC 8701): 0x?A?A with
// both bytes equal.
func isGREASE(v uint16) bool { return v&0x0f0f == 0x0a0a && v>>8 == v&0xff }

func withoutGREASE(vs []uint16) []uint16 {
	out := make([]uint16, 0, len(vs))
	for _, v := range vs {
		if !isGREASE(v) {
			out = append(out, v)
		}
	}
	return out
}

// version is the two-character code of the highest version offered.
func version(vs []uint16) string {
	var hi uint16
	for _, v := range vs {
		if !isGREASE(v) && v > hi && v < 0xfe00 { // DTLS versions count down from 0xfeff
			hi = v
		}
	}
	switch hi {
	case 0x0304:
		return "13"
	case 0x0303:
		return "12"
	case 0x0302:
		return "11"
	case 0x0301:
		return "10"
	case 0x0300:
		return "s3"
	case 0x0002:
		return "s2"
	}
	return "00"
}

func count(n int) string {
	n = min(n, 99)
	if n < 10 {
		return "0" + strconv.Itoa(n)
	}
	return strconv.Itoa(n)
}

// alpn is the first and last character of the first protocol offered, or
// of its hex form when either is not alphanumeric; "00" when none.
func alpn(protos []string) string {
	if len(protos) == 0 || protos[0] == "" {
		return "00"
	}
	p := protos[0]
	first, last := p[0], p[len(p)-1]
	if !alnum(first) || !alnum(last) {
		x := hex.EncodeToString([]byte(p))
		return string([]byte{x[0], x[len(x)-1]})
	}
	return string([]byte{first, last})
}

func alnum(c byte) bool {
	return c >= '0' && c <= '9' || c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z'
}

func hexList(vs []uint16) string {
	b := make([]byte, 0, 5*len(vs))
	for i, v := range vs {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, hexDigits[v>>12], hexDigits[v>>8&0xf], hexDigits[v>>4&0xf], hexDigits[v&0xf])
	}
	return string(b)
}

const hexDigits = "0123456789abcdef"

// hash12 is the first 12 hex characters of s's SHA-256, or twelve zeros
// for an empty list.
func hash12(s string) string {
	if s == "" {
		return "000000000000"
	}
	sum := sha256.Sum256([]byte(s))
	return hex.EncodeToString(sum[:6])
}
