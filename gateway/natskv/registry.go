package natskv

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/tlsgate/tlsgate/wasmhost"
)

// The tenant registry: tenants defined in NATS rather than in a gateway's
// configuration file, watched by every gateway of the fleet.
const (
	// TenantsBucket holds one tenant document per key, the tenant's name.
	TenantsBucket = "tlsgate_tenants"
	// CertsBucket is the fleet's one certificate store: each registry
	// tenant's certificate chain and private key (keys "tenant.<name>.
	// <digest>", written by deployers), and the ACME storage (keys
	// "acme.v1.…", written by the gateways that obtain certificates; see
	// CertStorage). Private keys are sealed with the fleet's sealing keys.
	// Its stream allows no rollups (see certsBucket).
	CertsBucket = "tlsgate_certs"
	// registryCertPrefix leads the registry's keys in CertsBucket.
	registryCertPrefix = "tenant."
	// registryHistory is how many versions of each document are kept, for
	// an operator to look back (nats kv history).
	registryHistory = 5
)

// ErrTenantNotFound is returned for a name the registry has no document of.
var ErrTenantNotFound = errors.New("natskv: tenant not in the registry")

// errNoRegistry is returned to readers while nothing was ever put: the
// bucket does not exist yet.
var errNoRegistry = errors.New("natskv: the tenant registry is empty: bucket " + TenantsBucket + " does not exist yet")

// registry opens one of the registry's buckets. Only a deployer (create)
// creates it; a gateway's NATS user may not.
func (c *Client) registry(ctx context.Context, bucket string, create bool) (jetstream.KeyValue, error) {
	if !c.Connected() {
		return nil, fmt.Errorf("natskv: %s: %w: not connected to NATS", bucket, wasmhost.ErrUnavailable)
	}
	kv, err := c.js.KeyValue(ctx, bucket)
	if errors.Is(err, jetstream.ErrBucketNotFound) && !create {
		return nil, errNoRegistry
	}
	if errors.Is(err, jetstream.ErrBucketNotFound) {
		if bucket == CertsBucket {
			kv, err = c.createCertsBucket(ctx)
		} else {
			kv, err = c.js.CreateKeyValue(ctx, jetstream.KeyValueConfig{
				Bucket:      bucket,
				Description: bucketDescription(bucket),
				History:     registryHistory,
			})
		}
		if errors.Is(err, jetstream.ErrBucketExists) || errors.Is(err, jetstream.ErrStreamNameAlreadyInUse) {
			kv, err = c.js.KeyValue(ctx, bucket)
		}
	}
	if err != nil {
		return nil, guestErr(ctx, bucket, err)
	}
	if bucket == CertsBucket {
		if err := c.certsNoRollup(ctx, kv, create); err != nil {
			return nil, guestErr(ctx, bucket, err)
		}
	}
	return kv, nil
}

// createCertsBucket creates CertsBucket as a KV bucket whose stream allows
// no rollups from the start (jetstream.CreateKeyValue allows them, and a
// gateway could empty the bucket before a later update took them away).
func (c *Client) createCertsBucket(ctx context.Context) (jetstream.KeyValue, error) {
	_, err := c.js.CreateStream(ctx, jetstream.StreamConfig{
		Name:              "KV_" + CertsBucket,
		Description:       bucketDescription(CertsBucket),
		Subjects:          []string{"$KV." + CertsBucket + ".>"},
		MaxMsgsPerSubject: registryHistory,
		MaxMsgs:           -1,
		MaxBytes:          -1,
		MaxAge:            0,
		MaxMsgSize:        -1,
		MaxConsumers:      -1,
		Storage:           jetstream.FileStorage,
		Replicas:          1,
		Discard:           jetstream.DiscardNew,
		Duplicates:        2 * time.Minute,
		AllowDirect:       true,
		DenyDelete:        true,
		AllowRollup:       false,
	})
	if err != nil {
		return nil, err
	}
	return c.js.KeyValue(ctx, CertsBucket)
}

// certsNoRollup makes sure CertsBucket's stream refuses rollups. Gateways
// write the ACME keys of that bucket, and a stream that allows rollups
// empties a whole subject, or the whole stream, for one publish carrying a
// Nats-Rollup header, which subject permissions cannot stop; without
// rollups a gateway's write reaches only the keys it may write. (Nothing
// purges this bucket: the registry deletes its old certificates.) A
// deployer (fix) converts a bucket made by an earlier version: its
// registry entries are moved under registryCertPrefix, which the gateway
// role may not write, then rollups are turned off. Anyone else is refused
// such a bucket.
func (c *Client) certsNoRollup(ctx context.Context, kv jetstream.KeyValue, fix bool) error {
	stream, err := c.js.Stream(ctx, "KV_"+CertsBucket)
	if err != nil {
		return err
	}
	cfg := stream.CachedInfo().Config
	if !cfg.AllowRollup {
		return nil
	}
	if !fix {
		return fmt.Errorf("bucket %s was made by an earlier tlsgate and still allows rollups: start the gateway that embeds NATS, or run tlsgate tenant put, with a deployer's credentials once to convert it", CertsBucket)
	}
	if err := moveRegistryCerts(ctx, kv); err != nil {
		return err
	}
	cfg.AllowRollup = false
	_, err = c.js.UpdateStream(ctx, cfg)
	return err
}

// oldCertKeyRE is the shape of a registry certificate key written before
// registryCertPrefix: a tenant name (no dots) and a SHA-256 in hex.
var oldCertKeyRE = regexp.MustCompile(`^[A-Za-z0-9_-]{1,64}\.[0-9a-f]{64}$`)

// moveRegistryCerts moves the registry's certificate entries written
// without registryCertPrefix under it. Keys of another shape (ACME's, or
// anything a gateway wrote) are left alone, and one that cannot be read
// does not stop the others.
func moveRegistryCerts(ctx context.Context, kv jetstream.KeyValue) error {
	keys, err := kv.ListKeys(ctx)
	if err != nil {
		return err
	}
	var old []string
	for k := range keys.Keys() {
		if oldCertKeyRE.MatchString(k) {
			old = append(old, k)
		}
	}
	var errs []error
	for _, k := range old {
		e, err := kv.Get(ctx, k)
		if errors.Is(err, jetstream.ErrKeyNotFound) {
			continue
		}
		if err == nil {
			_, err = kv.Put(ctx, registryCertPrefix+k, e.Value())
		}
		if err == nil {
			err = kv.Delete(ctx, k)
		}
		if err != nil {
			errs = append(errs, fmt.Errorf("moving %s: %w", k, err))
		}
	}
	return errors.Join(errs...)
}

// TenantCert is a registry tenant's certificate entry, kept under the key
// "tenant.<tenant>.<digest>" of CertsBucket: a new certificate is written beside the old one,
// which gateways that have not read the new document yet still find, and
// the old one is removed once the document naming the new one is written.
type TenantCert struct {
	Digest string // SHA-256 of Entry, lower-case hex: what the document names
	Entry  []byte
}

func certKey(tenant, digest string) string { return registryCertPrefix + tenant + "." + digest }

// PutTenant writes a registry tenant: its certificate entry (cert, nil for
// a tenant without one in NATS) first, then its document, so a gateway that
// sees the document finds the certificate, then removes the tenant's other
// certificate entries. Only a deployer may. The caller validates doc; see
// tlsgate tenant put.
func (c *Client) PutTenant(ctx context.Context, name string, doc []byte, cert *TenantCert) error {
	if err := ValidateTenant(name); err != nil {
		return err
	}
	if cert != nil && !validKey(certKey(name, cert.Digest)) {
		return fmt.Errorf("natskv: put tenant %s: certificate digest %q is not hex", name, cert.Digest)
	}
	ctx, stop := c.untilDenied(ctx)
	defer stop()
	err := func() error {
		var certs jetstream.KeyValue
		if cert != nil {
			var err error
			if certs, err = c.registry(ctx, CertsBucket, true); err != nil {
				return err
			}
			if _, err := certs.Put(ctx, certKey(name, cert.Digest), cert.Entry); err != nil {
				return err
			}
		}
		docs, err := c.registry(ctx, TenantsBucket, true)
		if err != nil {
			return err
		}
		if _, err = docs.Put(ctx, name, doc); err != nil {
			return err
		}
		keep := ""
		if cert != nil {
			keep = certKey(name, cert.Digest)
		}
		return c.dropCerts(ctx, name, keep)
	}()
	if d := denial(ctx); d != nil {
		return fmt.Errorf("natskv: put tenant %s: this NATS user may not change the registry (use a deployer's credentials): %w", name, d)
	}
	if err != nil {
		return guestErr(ctx, "put tenant "+name, err)
	}
	return nil
}

// dropCerts removes the certificate entries of tenant name but keep.
func (c *Client) dropCerts(ctx context.Context, name, keep string) error {
	certs, err := c.registry(ctx, CertsBucket, false)
	if errors.Is(err, errNoRegistry) {
		return nil
	}
	if err != nil {
		return err
	}
	keys, err := certs.ListKeysFiltered(ctx, registryCertPrefix+name+".*")
	if err != nil {
		return err
	}
	var errs []error
	for k := range keys.Keys() {
		if k != keep {
			errs = append(errs, certs.Delete(ctx, k)) // no purge: the stream allows no rollups
		}
	}
	return errors.Join(errs...)
}

// TenantDoc returns the registry's document of tenant name. Errors wrap
// ErrTenantNotFound, or wasmhost.ErrUnavailable.
func (c *Client) TenantDoc(ctx context.Context, name string) ([]byte, error) {
	return c.registryGet(ctx, TenantsBucket, name)
}

// TenantCertificate returns the certificate entry of registry tenant name
// whose digest is digest. Errors wrap ErrTenantNotFound, or
// wasmhost.ErrUnavailable.
func (c *Client) TenantCertificate(ctx context.Context, name, digest string) ([]byte, error) {
	if err := ValidateTenant(name); err != nil {
		return nil, err
	}
	if !validKey(certKey(name, digest)) {
		return nil, fmt.Errorf("%w: %s: certificate digest %q", ErrTenantNotFound, name, digest)
	}
	return c.registryGet(ctx, CertsBucket, certKey(name, digest))
}

func (c *Client) registryGet(ctx context.Context, bucket, name string) ([]byte, error) {
	if bucket == TenantsBucket {
		if err := ValidateTenant(name); err != nil {
			return nil, err
		}
	}
	kv, err := c.registry(ctx, bucket, false)
	if errors.Is(err, errNoRegistry) {
		return nil, fmt.Errorf("%w: %s", ErrTenantNotFound, name)
	}
	if err != nil {
		return nil, err
	}
	e, err := kv.Get(ctx, name)
	switch {
	case errors.Is(err, jetstream.ErrKeyNotFound):
		return nil, fmt.Errorf("%w: %s", ErrTenantNotFound, name)
	case err != nil:
		return nil, guestErr(ctx, bucket+" "+name, err)
	}
	return e.Value(), nil
}

// TenantNames lists the registry's tenants.
func (c *Client) TenantNames(ctx context.Context) ([]string, error) {
	kv, err := c.registry(ctx, TenantsBucket, false)
	if errors.Is(err, errNoRegistry) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	names, err := kv.Keys(ctx)
	if errors.Is(err, jetstream.ErrNoKeysFound) {
		return nil, nil
	}
	if err != nil {
		return nil, guestErr(ctx, "list tenants", err)
	}
	return names, nil
}

// DeleteTenant removes registry tenant name (its document, then its
// certificate entries); gateways stop serving it. Errors wrap
// ErrTenantNotFound for a name the registry does not have.
func (c *Client) DeleteTenant(ctx context.Context, name string) error {
	if _, err := c.TenantDoc(ctx, name); err != nil {
		return err
	}
	ctx, stop := c.untilDenied(ctx)
	defer stop()
	err := func() error {
		docs, err := c.registry(ctx, TenantsBucket, false)
		if err != nil {
			return err
		}
		if err := docs.Delete(ctx, name); err != nil {
			return err
		}
		return c.dropCerts(ctx, name, "")
	}()
	if d := denial(ctx); d != nil {
		return fmt.Errorf("natskv: delete tenant %s: this NATS user may not change the registry (use a deployer's credentials): %w", name, d)
	}
	if err != nil {
		return guestErr(ctx, "delete tenant "+name, err)
	}
	return nil
}

// RegistryCreated returns a channel that receives when JetStream reports
// the registry's bucket created (its stream-created advisory), so a
// gateway waiting for the first tenant put does not have to poll for it.
// stop ends the subscription.
func (c *Client) RegistryCreated() (created <-chan struct{}, stop func(), err error) {
	ch := make(chan struct{}, 1)
	sub, err := c.nc.Subscribe("$JS.EVENT.ADVISORY.STREAM.CREATED.KV_"+TenantsBucket, func(*nats.Msg) {
		select {
		case ch <- struct{}{}:
		default:
		}
	})
	if err != nil {
		return nil, nil, fmt.Errorf("natskv: watch for the registry: %w", err)
	}
	return ch, func() { _ = sub.Unsubscribe() }, nil
}

// TenantChange is one change to the registry: a tenant's document put
// (Doc set) or removed (Deleted).
type TenantChange struct {
	Name     string
	Doc      []byte
	Deleted  bool
	Revision uint64
}

// WatchTenants sends the registry's every document (as changes), then
// calls synced once, then every change as it happens, to fn, until ctx is
// done or the watch ends (the stream went away, or it could not be set
// up). It returns once the watch is set up, with a channel closed when it
// has ended, so the caller can set it up again. fn runs on the watch's
// goroutine, one change at a time. Until the first tenant is put the bucket
// does not exist and the watch cannot be set up (an error wrapping
// ErrTenantNotFound); the caller retries.
func (c *Client) WatchTenants(ctx context.Context, fn func(TenantChange), synced func()) (<-chan struct{}, error) {
	kv, err := c.registry(ctx, TenantsBucket, false)
	if errors.Is(err, errNoRegistry) {
		return nil, fmt.Errorf("%w: %w", ErrTenantNotFound, err)
	}
	if err != nil {
		return nil, err
	}
	w, err := kv.WatchAll(ctx)
	if err != nil {
		return nil, guestErr(ctx, "watch tenants", err)
	}
	ended := make(chan struct{})
	go func() {
		defer close(ended)
		defer func() {
			w.Stop()
			for range w.Updates() {
			}
		}()
		for {
			select {
			case <-ctx.Done():
				return
			case e, ok := <-w.Updates():
				if !ok {
					return
				}
				if e == nil {
					synced()
					continue
				}
				ch := TenantChange{Name: e.Key(), Revision: e.Revision()}
				if e.Operation() == jetstream.KeyValuePut {
					ch.Doc = e.Value()
				} else {
					ch.Deleted = true
				}
				fn(ch)
			}
		}
	}()
	return ended, nil
}

func bucketDescription(bucket string) string {
	if bucket == CertsBucket {
		return "tlsgate certificates, keys sealed: the registry's (tenant.*, tlsgate tenant put) and ACME's (acme.v1.*, written by the gateway that obtains them)"
	}
	return "tlsgate tenant registry (tlsgate tenant put)"
}
