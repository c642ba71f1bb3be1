package natskv

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// legacyPrefix starts the name of the bucket each tenant had before the
// shared bucket (tlsgate up to issue 9): "tlsgate_sessions_<tenant>".
const legacyPrefix = SessionsBucket + "_"

// Migration is what MigrateBuckets moved.
type Migration struct {
	Buckets int // legacy buckets emptied and deleted
	Keys    int // keys copied into the shared bucket
	Expired int // keys left behind because they had expired
}

// MigrateBuckets moves the sessions of every legacy per-tenant bucket
// ("tlsgate_sessions_<tenant>") into the shared bucket under the tenant's
// prefix, each key with what is left of its bucket's maximum age, then
// deletes the legacy bucket. Several gateways may run it at once: copies
// are idempotent and a bucket already deleted is skipped. Without a Bucket
// made on c first it does nothing. It may take a while with many keys; run
// it in the background. Errors name the bucket that failed; the
// others are still migrated.
func (c *Client) MigrateBuckets(ctx context.Context) (Migration, error) {
	var m Migration
	c.sessMu.Lock()
	s := c.sess
	c.sessMu.Unlock()
	if s == nil { // no tenant has sessions here: nothing to move them to
		return m, nil
	}
	if _, err := s.bound(ctx); err != nil {
		return m, fmt.Errorf("natskv: migrate: %w", err)
	}
	names := c.js.KeyValueStoreNames(ctx)
	var legacy []string
	for name := range names.Name() {
		if tenant, ok := strings.CutPrefix(name, legacyPrefix); ok && ValidateTenant(tenant) == nil {
			legacy = append(legacy, name)
		}
	}
	if err := names.Error(); err != nil {
		return m, fmt.Errorf("natskv: migrate: listing buckets: %w", err)
	}
	var errs []error
	for _, name := range legacy {
		if err := c.migrateBucket(ctx, name, &m); err != nil {
			errs = append(errs, fmt.Errorf("natskv: migrate %s: %w", name, err))
		}
	}
	return m, errors.Join(errs...)
}

func (c *Client) migrateBucket(ctx context.Context, name string, m *Migration) error {
	kv, err := c.js.KeyValue(ctx, name)
	if errors.Is(err, jetstream.ErrBucketNotFound) {
		return nil // another gateway was first
	}
	if err != nil {
		return err
	}
	st, err := kv.Status(ctx)
	if err != nil {
		return err
	}
	maxAge := st.TTL()
	if maxAge <= 0 || maxAge > MaxTTL {
		maxAge = MaxTTL
	}
	prefix := KeyPrefix(strings.TrimPrefix(name, legacyPrefix))
	w, err := kv.WatchAll(ctx, jetstream.IgnoreDeletes())
	if err != nil {
		return err
	}
	defer w.Stop()
	now := time.Now()
	for e := range w.Updates() {
		if e == nil { // the initial values are all delivered
			break
		}
		left := e.Created().Add(maxAge).Sub(now)
		if left < time.Second || !validKey(e.Key()) {
			m.Expired++
			continue
		}
		subject := "$KV." + SessionsBucket + "." + prefix + e.Key()
		if _, err := c.js.Publish(ctx, subject, e.Value(), jetstream.WithMsgTTL(roundTTL(left))); err != nil {
			return err
		}
		m.Keys++
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	if err := c.js.DeleteKeyValue(ctx, name); err != nil && !errors.Is(err, jetstream.ErrBucketNotFound) {
		return err
	}
	m.Buckets++
	return nil
}
