package gateway

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/tlsgate/tlsgate/gateway/config"
)

// loadCertificate returns the tenant's certificate c, named name: from its
// files, or a self-signed one kept in <dataDir>/certs/<tenant>.{crt,key}
// (<tenant>.<name>.{crt,key} for a further certificate; made on first use,
// remade when its names or key type no longer match or it expires within a
// day); generated says it was made now.
func loadCertificate(dataDir string, t config.Tenant, name string, c config.Certificate, path string) (_ tls.Certificate, generated bool, _ error) {
	if !c.SelfSigned {
		cert, err := tls.LoadX509KeyPair(c.CertFile, c.KeyFile)
		if err != nil {
			return tls.Certificate{}, false, fmt.Errorf("gateway: %s: %w", path, err)
		}
		return cert, false, nil
	}
	files := certFiles(dataDir, t, name, c)
	certFile, keyFile := files[0], files[1]
	names := selfSignedNames(t)
	if cert, err := tls.LoadX509KeyPair(certFile, keyFile); err == nil && certFits(cert, names, c.KeyType) {
		return cert, false, nil
	}
	if err := WriteSelfSigned(certFile, keyFile, names, c.KeyType); err != nil {
		return tls.Certificate{}, false, fmt.Errorf("gateway: %s: %w", path, err)
	}
	cert, err := tls.LoadX509KeyPair(certFile, keyFile)
	if err != nil {
		return tls.Certificate{}, false, fmt.Errorf("gateway: %s: %w", path, err)
	}
	return cert, true, nil
}

// certFiles are the files loadCertificate reads for t's certificate c,
// named name. (Tenant names have no dot, so "<tenant>.<name>" is never
// another tenant's file.)
func certFiles(dataDir string, t config.Tenant, name string, c config.Certificate) []string {
	if !c.SelfSigned {
		return []string{c.CertFile, c.KeyFile}
	}
	base := t.Name
	if name != config.DefaultCertificateName {
		base += "." + name
	}
	dir := filepath.Join(dataDir, "certs")
	return []string{filepath.Join(dir, base+".crt"), filepath.Join(dir, base+".key")}
}

func selfSignedNames(t config.Tenant) []string {
	names := slices.Clone(t.ServerNames)
	if len(names) == 0 {
		names = []string{"localhost"}
	}
	return names
}

func certFits(cert tls.Certificate, names []string, keyType string) bool {
	leaf := cert.Leaf
	if leaf == nil || time.Until(leaf.NotAfter) < 24*time.Hour {
		return false
	}
	if !slices.Equal(leaf.DNSNames, names) {
		return false
	}
	_, isRSA := leaf.PublicKey.(*rsa.PublicKey)
	return isRSA == (keyType == "rsa")
}

// WriteSelfSigned writes a self-signed certificate for names (DNS names; for
// "localhost" also 127.0.0.1 and ::1) valid for one year, and its key (mode
// 0600), creating the directory. keyType is "ecdsa" (P-256) or "rsa" (2048).
func WriteSelfSigned(certFile, keyFile string, names []string, keyType string) error {
	var key crypto.Signer
	var err error
	switch keyType {
	case "rsa":
		key, err = rsa.GenerateKey(rand.Reader, 2048)
	case "ecdsa", "":
		key, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	default:
		return fmt.Errorf("gateway: unknown key type %q", keyType)
	}
	if err != nil {
		return err
	}
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 120))
	if err != nil {
		return err
	}
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{CommonName: names[0], Organization: []string{"tlsgate self-signed"}},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(365 * 24 * time.Hour),
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageKeyEncipherment,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		DNSNames:              names,
	}
	if slices.Contains(names, "localhost") {
		tmpl.IPAddresses = []net.IP{net.IPv4(127, 0, 0, 1), net.IPv6loopback}
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		return err
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(certFile), 0o700); err != nil {
		return err
	}
	if err := writeFileAtomic(keyFile, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER}), 0o600); err != nil {
		return err
	}
	return writeFileAtomic(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o644)
}

// writeFileAtomic writes data to a temp file beside name and renames it.
func writeFileAtomic(name string, data []byte, perm os.FileMode) error {
	f, err := os.CreateTemp(filepath.Dir(name), "."+filepath.Base(name)+".*")
	if err != nil {
		return err
	}
	defer os.Remove(f.Name())
	if err := f.Chmod(perm); err != nil {
		f.Close()
		return err
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	return os.Rename(f.Name(), name)
}

var errNoServerName = errors.New("gateway: no tenant for this server name")

// router picks the tenant for a ClientHello's server name.
type router struct {
	exact    map[string]*tenant
	wildcard map[string]*tenant // key: "example.com" for "*.example.com"
	fallback *tenant
	names    map[string]*tenant // by tenant name, for a client-hello guest's route
}

// byName returns the tenant of that name the listener serves, or nil.
func (r *router) byName(name string) *tenant { return r.names[name] }

func newRouter(tenants []*tenant) *router {
	r := &router{exact: map[string]*tenant{}, wildcard: map[string]*tenant{}, names: make(map[string]*tenant, len(tenants))}
	for _, t := range tenants {
		r.names[t.name] = t
		for _, n := range t.cfg.ServerNames {
			n = strings.ToLower(n)
			if rest, ok := strings.CutPrefix(n, "*."); ok {
				r.wildcard[rest] = t
			} else {
				r.exact[n] = t
			}
		}
		if t.cfg.Default {
			r.fallback = t
		}
	}
	return r
}

// maxSNILen is the longest DNS name (RFC 1035); the SNI extension itself
// allows 64 KiB.
const maxSNILen = 253

// errBadSNI refuses a ClientHello whose server name is no DNS host name.
var errBadSNI = errors.New("gateway: the server name (SNI) is not a DNS host name")

// checkSNI refuses server names that are no DNS host names (RFC 6066 s3:
// ASCII, without a trailing dot): over 253 bytes, empty labels, or bytes
// other than letters, digits, '-' and '_' (seen in real host names) between
// the dots. Guests and logs then only ever see plain host names.
func checkSNI(name string) error {
	if name == "" {
		return nil // no SNI: the default tenant
	}
	if len(name) > maxSNILen {
		return fmt.Errorf("%w: %d bytes, at most %d", errBadSNI, len(name), maxSNILen)
	}
	label := 0
	for i := 0; i < len(name); i++ {
		switch c := name[i]; {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9', c == '-', c == '_':
			label++
		case c == '.' && label > 0 && label <= 63:
			label = 0
		default:
			return fmt.Errorf("%w: byte %#x at %d", errBadSNI, c, i)
		}
	}
	if label == 0 || label > 63 {
		return fmt.Errorf("%w: empty or overlong label", errBadSNI)
	}
	return nil
}

// route returns the tenant for serverName (an SNI, or an HTTP Host, which
// may end in a dot): an exact name first, then a wildcard matching exactly
// one label, then the default tenant.
func (r *router) route(serverName string) (*tenant, error) {
	name := strings.ToLower(strings.TrimSuffix(serverName, "."))
	if name != "" {
		if t, ok := r.exact[name]; ok {
			return t, nil
		}
		if _, rest, ok := strings.Cut(name, "."); ok {
			if t, ok := r.wildcard[rest]; ok {
				return t, nil
			}
		}
	}
	if r.fallback != nil {
		return r.fallback, nil
	}
	return nil, fmt.Errorf("%w: %q", errNoServerName, serverName)
}

// certExpiresSoon is how long before its end a certificate is warned of.
const certExpiresSoon = 30 * 24 * time.Hour

// certValidityWarnings says what is wrong or about to be with leaf's
// validity at now: expired, not valid yet, or ending within certExpiresSoon.
func certValidityWarnings(leaf *x509.Certificate, now time.Time) []string {
	switch {
	case now.After(leaf.NotAfter):
		return []string{"expired on " + leaf.NotAfter.UTC().Format(time.DateOnly) + ": clients refuse it"}
	case now.Before(leaf.NotBefore):
		return []string{"is not valid before " + leaf.NotBefore.UTC().Format(time.RFC3339) + ": clients refuse it until then"}
	case leaf.NotAfter.Sub(now) < certExpiresSoon:
		days := int(leaf.NotAfter.Sub(now).Hours() / 24)
		return []string{fmt.Sprintf("expires in %d day(s), on %s", days, leaf.NotAfter.UTC().Format(time.DateOnly))}
	}
	return nil
}

// certNamesCover checks that leaf names every server name (all), or at
// least one of them; a wildcard server name needs the same wildcard.
func certNamesCover(leaf *x509.Certificate, serverNames []string, all bool) error {
	var missing []string
	for _, n := range serverNames {
		if leaf.VerifyHostname(n) != nil {
			missing = append(missing, n)
		}
	}
	switch {
	case len(serverNames) == 0 || len(missing) == 0:
		return nil
	case all:
		return fmt.Errorf("the certificate (names %q) does not cover server_names %q", certNameList(leaf), missing)
	case len(missing) == len(serverNames):
		return fmt.Errorf("the certificate (names %q) covers none of the tenant's server_names", certNameList(leaf))
	}
	return nil
}

func certNameList(leaf *x509.Certificate) []string {
	names := slices.Clone(leaf.DNSNames)
	for _, ip := range leaf.IPAddresses {
		names = append(names, ip.String())
	}
	return names
}
