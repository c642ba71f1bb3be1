package natskv

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/tlsgate/tlsgate/abi"
	"github.com/tlsgate/tlsgate/wasmhost"
)

// Bucket is one tenant's KV bucket, "tlsgate_sessions_<tenant>". It binds to
// JetStream lazily: until the bucket has been created or found, every
// operation retries binding (at most once a second) and fails with
// wasmhost.ErrUnavailable. It is safe for concurrent use.
type Bucket struct {
	c          *Client
	name       string
	cfg        jetstream.KeyValueConfig
	maxEntries int64 // 0: no limit; set on the stream, which KeyValueConfig cannot

	kv atomic.Pointer[boundKV] // nil until bound, reset when the stream vanishes

	mu      sync.Mutex // guards the fields below
	binding bool       // a bind attempt is running
	lastTry time.Time
	lastErr error
}

var _ wasmhost.KV = (*Bucket)(nil)

// boundKV boxes the interface for atomic.Pointer.
type boundKV struct{ kv jetstream.KeyValue }

// BucketOption configures Client.Bucket.
type BucketOption func(*bucketOptions)

type bucketOptions struct {
	ttl        time.Duration
	storage    string
	replicas   int
	maxBytes   int64
	maxEntries int64
}

// WithTTL sets the bucket's maximum age: no key outlives it, whatever TTL
// it was written with. 0 means no limit. Default: 24h.
func WithTTL(d time.Duration) BucketOption {
	return func(o *bucketOptions) { o.ttl = d }
}

// WithStorage selects JetStream storage: "file" (survives restarts) or
// "memory". Default: "file".
func WithStorage(s string) BucketOption {
	return func(o *bucketOptions) { o.storage = s }
}

// WithReplicas sets how many servers of a JetStream cluster hold the bucket
// (1 to 5). Default: 1.
func WithReplicas(n int) BucketOption {
	return func(o *bucketOptions) { o.replicas = n }
}

// WithQuota bounds the bucket: at most maxBytes bytes stored (keys,
// values and JetStream's per-message overhead) and at most maxEntries
// entries (deleted keys' markers included until they expire). A write past
// either fails with an error wrapping wasmhost.ErrLimitExceeded, and
// nothing of another tenant's bucket is touched. 0 means no limit.
// Default: no limits.
func WithQuota(maxBytes, maxEntries int64) BucketOption {
	return func(o *bucketOptions) { o.maxBytes, o.maxEntries = maxBytes, maxEntries }
}

// Bucket tuning.
const (
	// bindRetryInterval rate-limits bind attempts of one bucket.
	bindRetryInterval = time.Second
	// bindTimeout bounds one bind attempt.
	bindTimeout = 2 * time.Second
	// limitMarkerTTL is how long an expired key's marker stays; setting it
	// enables per-key TTLs on the bucket (JetStream's AllowMsgTTL).
	limitMarkerTTL = time.Minute
	defaultTTL     = 24 * time.Hour
	// maxHeaderBytes is room for the headers JetStream counts into a
	// message's size (Nats-TTL, KV-Operation) above the guest's value.
	maxHeaderBytes = 1024
)

// Bucket returns tenant's bucket, creating or updating it in JetStream. It
// does not fail because NATS is down or the bucket cannot be created yet: the
// bucket then binds on a later operation. Errors: a tenant name that fails
// ValidateTenant (wrapping ErrInvalidTenant), an unknown storage, replicas
// outside 1 to 5, a negative TTL.
func (c *Client) Bucket(ctx context.Context, tenant string, opts ...BucketOption) (*Bucket, error) {
	if err := ValidateTenant(tenant); err != nil {
		return nil, err
	}
	o := bucketOptions{ttl: defaultTTL, storage: "file", replicas: 1}
	for _, opt := range opts {
		opt(&o)
	}
	var storage jetstream.StorageType
	switch o.storage {
	case "file":
		storage = jetstream.FileStorage
	case "memory":
		storage = jetstream.MemoryStorage
	default:
		return nil, fmt.Errorf("natskv: bucket storage %q: want \"file\" or \"memory\"", o.storage)
	}
	if o.replicas < 1 || o.replicas > 5 {
		return nil, fmt.Errorf("natskv: bucket replicas %d: want 1 to 5", o.replicas)
	}
	if o.ttl < 0 {
		return nil, fmt.Errorf("natskv: bucket TTL %s: want >= 0", o.ttl)
	}
	if o.maxBytes < 0 || o.maxEntries < 0 {
		return nil, fmt.Errorf("natskv: bucket quota %d bytes, %d entries: want >= 0", o.maxBytes, o.maxEntries)
	}
	maxBytes := int64(-1)
	if o.maxBytes > 0 {
		maxBytes = o.maxBytes
	}
	b := &Bucket{
		c:    c,
		name: BucketName(tenant),
		cfg: jetstream.KeyValueConfig{
			Bucket:         BucketName(tenant),
			Description:    "tlsgate sealed TLS sessions of tenant " + tenant,
			History:        1,
			TTL:            o.ttl,
			Storage:        storage,
			Replicas:       o.replicas,
			LimitMarkerTTL: limitMarkerTTL,
			MaxBytes:       maxBytes,
			MaxValueSize:   abi.MaxValueLen + maxHeaderBytes,
		},
		maxEntries: o.maxEntries,
	}
	if _, ok := b.startBind(); ok && c.Connected() {
		_, _ = b.bindNow(ctx) // a failure is logged; operations retry
	} else if ok {
		b.mu.Lock()
		b.binding, b.lastTry = false, time.Time{}
		b.mu.Unlock()
	}
	return b, nil
}

// Name returns the bucket's name, "tlsgate_sessions_<tenant>".
func (b *Bucket) Name() string { return b.name }

// Get returns the value of key. Errors wrap wasmhost.ErrKeyNotFound for a
// missing, deleted or expired key, wasmhost.ErrUnavailable when NATS or the
// bucket cannot be reached, or ctx's error.
func (b *Bucket) Get(ctx context.Context, key string) (_ []byte, err error) {
	defer b.record(ctx, time.Now(), &err)
	kv, err := b.prepare(ctx, key)
	if err != nil {
		return nil, err
	}
	e, err := kv.Get(ctx, key)
	if err != nil {
		return nil, b.fail(ctx, "get", err)
	}
	return e.Value(), nil
}

// record tells the client's breaker how an operation that started at
// started ended.
func (b *Bucket) record(ctx context.Context, started time.Time, err *error) {
	dl, _ := ctx.Deadline()
	b.c.brk.record(*err, started, dl)
}

// Put sets key to value. ttl > 0 expires the key after ttl, rounded up to
// whole seconds (JetStream's resolution); ttl == 0 keeps it for the bucket's
// TTL. Errors wrap wasmhost.ErrUnavailable, or are ctx's error.
func (b *Bucket) Put(ctx context.Context, key string, value []byte, ttl time.Duration) (err error) {
	defer b.record(ctx, time.Now(), &err)
	kv, err := b.prepare(ctx, key)
	if err != nil {
		return err
	}
	if ttl <= 0 {
		_, err = kv.Put(ctx, key, value)
	} else {
		// KeyValue.Put has no TTL option: publish to the key's subject,
		// as Put does, with a per-message TTL.
		_, err = b.c.js.Publish(ctx, "$KV."+b.name+"."+key, value, jetstream.WithMsgTTL(roundTTL(ttl)))
	}
	if err != nil {
		return b.fail(ctx, "put", err)
	}
	return nil
}

// Create sets key to value only if key is absent (never written, deleted or
// expired); otherwise the error wraps wasmhost.ErrKeyExists. ttl is as for Put.
func (b *Bucket) Create(ctx context.Context, key string, value []byte, ttl time.Duration) (err error) {
	defer b.record(ctx, time.Now(), &err)
	kv, err := b.prepare(ctx, key)
	if err != nil {
		return err
	}
	var opts []jetstream.KVCreateOpt
	if ttl > 0 {
		opts = append(opts, jetstream.KeyTTL(roundTTL(ttl)))
	}
	if _, err := kv.Create(ctx, key, value, opts...); err != nil {
		return b.fail(ctx, "create", err)
	}
	return nil
}

// Delete removes key; a missing key is not an error. Errors wrap
// wasmhost.ErrUnavailable, or are ctx's error.
func (b *Bucket) Delete(ctx context.Context, key string) (err error) {
	defer b.record(ctx, time.Now(), &err)
	kv, err := b.prepare(ctx, key)
	if err != nil {
		return err
	}
	if err := kv.Delete(ctx, key); err != nil {
		return b.fail(ctx, "delete", err)
	}
	return nil
}

// prepare checks key and returns the bound bucket.
func (b *Bucket) prepare(ctx context.Context, key string) (jetstream.KeyValue, error) {
	if !validKey(key) {
		return nil, fmt.Errorf("natskv: bucket %s: invalid key (want [-/_=.A-Za-z0-9]+, no leading, trailing or double '.')", b.name)
	}
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("natskv: bucket %s: %w", b.name, err)
	}
	return b.bound(ctx)
}

// bound returns the bound bucket. When it is not bound, it starts binding
// it in the background (unless a bind is running or the last attempt is
// less than bindRetryInterval old) and fails with wasmhost.ErrUnavailable
// at once: a bind takes round trips that must not be charged to the
// handshake whose fetch happened to find the bucket unbound (after a NATS
// restart, say), whose deadline is far shorter than bindTimeout.
func (b *Bucket) bound(ctx context.Context) (jetstream.KeyValue, error) {
	if !b.c.Connected() {
		return nil, fmt.Errorf("natskv: bucket %s: %w: not connected to NATS", b.name, wasmhost.ErrUnavailable)
	}
	if !b.c.brk.allow() {
		return nil, fmt.Errorf("natskv: bucket %s: %w: %w", b.name, wasmhost.ErrUnavailable, errBreakerOpen)
	}
	if h := b.kv.Load(); h != nil {
		return h.kv, nil
	}
	if last, ok := b.startBind(); !ok {
		if last == nil {
			last = errors.New("bucket is being bound")
		}
		return nil, fmt.Errorf("natskv: bucket %s: %w: %w", b.name, wasmhost.ErrUnavailable, last)
	}
	go b.bindNow(context.WithoutCancel(ctx))
	return nil, fmt.Errorf("natskv: bucket %s: %w: bucket is being bound", b.name, wasmhost.ErrUnavailable)
}

// startBind claims the right to run a bind attempt now; otherwise it
// returns the last attempt's error.
func (b *Bucket) startBind() (lastErr error, ok bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.binding || (!b.lastTry.IsZero() && time.Since(b.lastTry) < bindRetryInterval) {
		return b.lastErr, false
	}
	b.binding, b.lastTry = true, time.Now()
	return nil, true
}

// bindNow runs one bind attempt claimed with startBind, bounded by
// bindTimeout, and records its result.
func (b *Bucket) bindNow(ctx context.Context) (jetstream.KeyValue, error) {
	ctx, cancel := context.WithTimeout(ctx, bindTimeout)
	kv, err := b.bind(ctx)
	cancel()
	b.mu.Lock()
	b.binding, b.lastErr = false, err
	if err == nil {
		b.kv.Store(&boundKV{kv: kv})
	}
	b.mu.Unlock()
	if err != nil {
		b.c.log.Warn("natskv: cannot bind bucket; will retry", "bucket", b.name, "err", err)
		return nil, fmt.Errorf("natskv: bucket %s: %w: %w", b.name, wasmhost.ErrUnavailable, err)
	}
	return kv, nil
}

// bind creates or updates the bucket. If JetStream refuses the update (a
// bucket made with a different storage, say), it uses the existing bucket as
// it is.
func (b *Bucket) bind(ctx context.Context) (jetstream.KeyValue, error) {
	kv, err := b.c.js.CreateOrUpdateKeyValue(ctx, b.cfg)
	if err == nil {
		if err := b.limitEntries(ctx); err != nil {
			return nil, err
		}
		return kv, nil
	}
	var apiErr *jetstream.APIError
	if !errors.As(err, &apiErr) || apiErr.Code == 503 {
		return nil, err
	}
	kv, err2 := b.c.js.KeyValue(ctx, b.name)
	if err2 != nil {
		return nil, err
	}
	b.c.log.Warn("natskv: bucket exists with another configuration; using it as it is", "bucket", b.name, "err", err)
	return kv, nil
}

// limitEntries sets the entry quota on the bucket's stream (KeyValueConfig
// has no field for it, and CreateOrUpdateKeyValue resets it).
func (b *Bucket) limitEntries(ctx context.Context) error {
	want := int64(-1)
	if b.maxEntries > 0 {
		want = b.maxEntries
	}
	s, err := b.c.js.Stream(ctx, "KV_"+b.name)
	if err != nil {
		return err
	}
	cfg := s.CachedInfo().Config
	if cfg.MaxMsgs == want {
		return nil
	}
	cfg.MaxMsgs = want
	_, err = b.c.js.UpdateStream(ctx, cfg)
	return err
}

// fail maps an operation's error to the wasmhost sentinels.
func (b *Bucket) fail(ctx context.Context, op string, err error) error {
	switch {
	case errors.Is(err, jetstream.ErrKeyNotFound):
		return fmt.Errorf("natskv: %s: %w", op, wasmhost.ErrKeyNotFound)
	case errors.Is(err, jetstream.ErrKeyExists):
		return fmt.Errorf("natskv: %s: %w", op, wasmhost.ErrKeyExists)
	case ctx.Err() != nil:
		return fmt.Errorf("natskv: %s: %w", op, ctx.Err())
	case overQuota(err):
		return fmt.Errorf("natskv: %s: bucket %s: %w: %w", op, b.name, wasmhost.ErrLimitExceeded, err)
	case streamGone(err):
		b.kv.Store(nil) // rebind on a later operation
		return fmt.Errorf("natskv: %s: bucket %s: %w: %w", op, b.name, wasmhost.ErrUnavailable, err)
	case unreachable(err) || !b.c.Connected():
		return fmt.Errorf("natskv: %s: %w: %w", op, wasmhost.ErrUnavailable, err)
	}
	return fmt.Errorf("natskv: %s: bucket %s: %w", op, b.name, err)
}

// overQuota reports JetStream's refusal of a write past the bucket's
// limits (DiscardNew: the new message is refused, nothing is dropped).
func overQuota(err error) bool {
	if errors.Is(err, jetstream.ErrStreamMessageExceedsMaximum) {
		return true
	}
	// The server's store errors (JSStreamStoreFailedF) carry no code of
	// their own; their descriptions are nats-server's ErrMaxBytes and
	// ErrMaxMsgs.
	s := err.Error()
	return strings.Contains(s, "maximum bytes exceeded") || strings.Contains(s, "maximum messages exceeded") ||
		strings.Contains(s, "message size exceeds maximum")
}

// streamGone reports errors meaning the bucket's stream no longer exists
// (deleted, or lost with a memory-only server): nothing answers its subjects.
func streamGone(err error) bool {
	return errors.Is(err, jetstream.ErrStreamNotFound) ||
		errors.Is(err, nats.ErrNoResponders) ||
		errors.Is(err, jetstream.ErrBucketNotFound) ||
		errors.Is(err, jetstream.ErrNoStreamResponse)
}

// unreachable reports errors meaning NATS or JetStream cannot be reached now.
func unreachable(err error) bool {
	for _, target := range []error{
		nats.ErrConnectionClosed, nats.ErrConnectionDraining, nats.ErrConnectionReconnecting,
		nats.ErrDisconnected, nats.ErrTimeout, nats.ErrNoResponders,
		jetstream.ErrJetStreamNotEnabled, jetstream.ErrJetStreamNotEnabledForAccount,
		context.DeadlineExceeded, // JetStream's own request timeout, ctx being alive
	} {
		if errors.Is(err, target) {
			return true
		}
	}
	var apiErr *jetstream.APIError
	return errors.As(err, &apiErr) && apiErr.Code == 503
}

// roundTTL rounds a per-key TTL up to whole seconds, JetStream's resolution
// and minimum.
func roundTTL(ttl time.Duration) time.Duration {
	return (ttl + time.Second - 1).Truncate(time.Second)
}

// validKey mirrors JetStream's key rule, so that a Put that publishes
// directly cannot reach another subject.
func validKey(key string) bool {
	if key == "" || key[0] == '.' || key[len(key)-1] == '.' {
		return false
	}
	for i := 0; i < len(key); i++ {
		switch c := key[i]; {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9':
		case c == '-', c == '/', c == '_', c == '=':
		case c == '.':
			if key[i-1] == '.' {
				return false
			}
		default:
			return false
		}
	}
	return true
}
