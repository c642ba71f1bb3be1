package gateway

import (
	"context"
	"crypto/sha256"
	"crypto/tls"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/tlsgate/tlsgate/gateway/config"
	"github.com/tlsgate/tlsgate/gateway/natskv"
)

// certEntry is a registry tenant's certificate as natskv.CertsBucket holds
// it: the chain in clear, the private key sealed with the fleet's sealing
// keys for that tenant (purpose "tenant-key"), so that NATS, and whoever
// reads it, never holds the key in clear.
type certEntry struct {
	Format    int    `json:"format"`
	ChainPEM  string `json:"chain_pem"`
	SealedKey []byte `json:"sealed_key"` // base64 in JSON
}

const (
	certEntryFormat = 1
	keyPurpose      = "tenant-key"
	// certRetry is how long a failed load is remembered: handshakes of that
	// name in the meantime fail at once instead of each asking NATS.
	certRetry = time.Second
)

// sealCertificate makes the certificate entry of tenant from PEM files'
// contents, and its digest (what the tenant's document names as
// certificate.nats). It refuses a chain and key that do not pair, an
// expired certificate, and one that does not cover serverNames.
func sealCertificate(seal *sealer, tenant string, serverNames []string, chainPEM, keyPEM []byte) ([]byte, string, error) {
	cert, err := tls.X509KeyPair(chainPEM, keyPEM)
	if err != nil {
		return nil, "", err
	}
	if err := certCovers(cert, serverNames); err != nil {
		return nil, "", err
	}
	entry, err := json.Marshal(certEntry{Format: certEntryFormat, ChainPEM: string(chainPEM),
		SealedKey: seal.sealBlob(keyPEM, keyPurpose, tenant, nil)})
	if err != nil {
		return nil, "", err
	}
	sum := sha256.Sum256(entry)
	return entry, hex.EncodeToString(sum[:]), nil
}

// certCovers refuses an expired certificate, or one that does not name
// every server name (a wildcard server name needs the same wildcard), as a
// file tenant's default certificate is checked (certNamesCover).
func certCovers(cert tls.Certificate, serverNames []string) error {
	if time.Now().After(cert.Leaf.NotAfter) {
		return fmt.Errorf("the certificate expired on %s", cert.Leaf.NotAfter.Format(time.DateOnly))
	}
	return certNamesCover(cert.Leaf, serverNames, true)
}

// openCertificate opens a certificate entry of tenant whose digest must be
// digest.
func openCertificate(seal *sealer, tenant, digest string, entry []byte) (tls.Certificate, error) {
	sum := sha256.Sum256(entry)
	if hex.EncodeToString(sum[:]) != digest {
		return tls.Certificate{}, errors.New("the certificate in NATS is not the one the tenant's document names (changed behind tlsgate tenant put, or being replaced)")
	}
	var e certEntry
	if err := json.Unmarshal(entry, &e); err != nil || e.Format != certEntryFormat {
		return tls.Certificate{}, fmt.Errorf("not a certificate entry of format %d", certEntryFormat)
	}
	keyPEM, err := seal.openBlob(e.SealedKey, keyPurpose, tenant, nil)
	if err != nil {
		return tls.Certificate{}, fmt.Errorf("the private key does not open with this gateway's sealing keys: %w", err)
	}
	return tls.X509KeyPair([]byte(e.ChainPEM), keyPEM)
}

// registryCert is a registry tenant's certificate, loaded from NATS on
// first use and kept: a gateway of 10,000 registry tenants reads only the
// certificates of the names it is asked for.
type registryCert struct {
	tenant, digest string
	certs          atomic.Pointer[[]tls.Certificate] // once loaded: every handshake reads it without a lock

	mu      sync.Mutex // one load at a time; guards lastErr and lastTry
	lastErr error
	lastTry time.Time
}

// get returns the certificate (as tls.Config.Certificates, shared: never
// modified), loading it once; a failed load is retried
// no sooner than certRetry later.
func (c *registryCert) get(ctx context.Context, kv *natskv.Client, seal *sealer, m *metrics, log *slog.Logger) ([]tls.Certificate, error) {
	if certs := c.certs.Load(); certs != nil {
		return *certs, nil
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if certs := c.certs.Load(); certs != nil { // loaded while this one waited
		return *certs, nil
	}
	if c.lastErr != nil && time.Since(c.lastTry) < certRetry {
		return nil, c.lastErr
	}
	c.lastTry = time.Now()
	cert, err := loadRegistryCert(ctx, kv, seal, c.tenant, c.digest)
	if err != nil {
		m.certLoads.WithLabelValues("error").Inc()
		c.lastErr = fmt.Errorf("gateway: tenant %s: certificate from NATS: %w", c.tenant, err)
		log.Warn("registry tenant's certificate not loaded; its handshakes fail until it is", "tenant", c.tenant, "err", err)
		return nil, c.lastErr
	}
	m.certLoads.WithLabelValues("ok").Inc()
	c.lastErr = nil
	certs := []tls.Certificate{cert}
	c.certs.Store(&certs)
	return certs, nil
}

func loadRegistryCert(ctx context.Context, kv *natskv.Client, seal *sealer, tenant, digest string) (tls.Certificate, error) {
	if kv == nil {
		return tls.Certificate{}, errors.New("no NATS")
	}
	entry, err := kv.TenantCertificate(ctx, tenant, digest)
	if err != nil {
		return tls.Certificate{}, err
	}
	return openCertificate(seal, tenant, digest, entry)
}

// RegistryTenant is a tenant ready to be put in the registry.
type RegistryTenant struct {
	Name        string
	Doc         []byte             // the tenant document, JSON
	Certificate *natskv.TenantCert // its certificate entry, or nil (self-signed)
}

// PrepareTenant reads a tenant document given to tlsgate tenant put (from
// source) and makes what the registry stores: it validates the document
// (field paths as in check), reads its certificate files, checks them
// (they pair, are valid, cover the server names) and seals the key with
// the fleet's sealing keys (the first seals), and loads its guest the way a
// gateway would (a nats: module is read from kv). Nothing is written.
func PrepareTenant(ctx context.Context, keys []config.SealingKey, kv *natskv.Client, source string, data []byte) (RegistryTenant, error) {
	tc, err := config.ParseTenantInput(source, data)
	if err != nil {
		return RegistryTenant{}, err
	}
	rt := RegistryTenant{Name: tc.Name}
	if c := tc.Certificate; c.CertFile != "" {
		seal, err := newSealer(keys)
		if err != nil {
			return rt, err
		}
		chain, err := readFileLimited(c.CertFile)
		if err != nil {
			return rt, fmt.Errorf("%s: certificate.cert_file: %w", source, err)
		}
		key, err := readFileLimited(c.KeyFile)
		if err != nil {
			return rt, fmt.Errorf("%s: certificate.key_file: %w", source, err)
		}
		entry, digest, err := sealCertificate(seal, tc.Name, tc.ServerNames, chain, key)
		if err != nil {
			return rt, fmt.Errorf("%s: certificate: %w", source, err)
		}
		rt.Certificate = &natskv.TenantCert{Digest: digest, Entry: entry}
		tc.Certificate = config.Certificate{NATS: digest}
	}
	if g := tc.Guest; g != nil {
		var wasm []byte
		if name, ok := strings.CutPrefix(g.Module, config.NATSModulePrefix); ok {
			if wasm, err = kv.GuestModule(ctx, name); err != nil {
				return rt, fmt.Errorf("%s: guest.module: %w", source, err)
			}
		} else if wasm, _, err = guestBytes(g.Module); err != nil {
			return rt, fmt.Errorf("%s: guest.module: %w", source, err)
		}
		if _, err := CheckGuestModule(ctx, g.Module, wasm, []byte(g.Config)); err != nil {
			return rt, fmt.Errorf("%s: guest: %w", source, err)
		}
	}
	rt.Doc, err = config.TenantDocument(tc)
	return rt, err
}

// maxPEMFile bounds a certificate or key file tenant put reads.
const maxPEMFile = 1 << 20

func readFileLimited(name string) ([]byte, error) {
	f, err := os.Open(name)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, maxPEMFile+1))
	if err != nil {
		return nil, err
	}
	if len(b) > maxPEMFile {
		return nil, fmt.Errorf("%s: over %d bytes: not a PEM certificate or key", name, maxPEMFile)
	}
	return b, nil
}
