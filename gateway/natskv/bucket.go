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

// SessionsBucket is the JetStream KV bucket that holds every tenant's
// sealed sessions, each tenant under its own key prefix (KeyPrefix).
const SessionsBucket = "tlsgate_sessions"

// KeyPrefix returns the prefix under which tenant's keys are stored in
// SessionsBucket: "<tenant>.". A tenant name has no '.', so no key of one
// tenant can fall under another's prefix.
func KeyPrefix(tenant string) string { return tenant + "." }

// Bucket is one tenant's view of the shared sessions bucket: every key it is
// given is stored as KeyPrefix(tenant)+key, so a tenant reads and writes its
// own keys only; every write expires within the tenant's TTL; and the
// tenant's quota is kept by this host (see WithQuota). It binds to JetStream
// lazily: until the shared bucket has been created or found, every operation
// retries binding (at most once a second, for all tenants together) and
// fails with wasmhost.ErrUnavailable. It is safe for concurrent use.
type Bucket struct {
	s      *sessions
	tenant string
	prefix string
	ttl    time.Duration // the longest a key of this tenant lives
	quota  *quota        // nil: no quota
}

var _ wasmhost.KV = (*Bucket)(nil)

// sessions is the shared bucket of one Client, bound once for every tenant.
type sessions struct {
	c   *Client
	cfg jetstream.KeyValueConfig

	kv atomic.Pointer[boundKV] // nil until bound, reset when the stream vanishes

	mu      sync.Mutex // guards the fields below
	binding bool       // a bind attempt is running
	lastTry time.Time
	lastErr error
}

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

// WithTTL sets the tenant's maximum key lifetime: no key outlives it,
// whatever TTL it was written with. Default: 24h; at most (and 0 means)
// MaxTTL.
func WithTTL(d time.Duration) BucketOption {
	return func(o *bucketOptions) { o.ttl = d }
}

// WithStorage selects JetStream storage of the shared bucket: "file"
// (survives restarts) or "memory". The first Bucket of a Client creates
// the shared bucket; later ones must ask for the same. Default: "file".
func WithStorage(s string) BucketOption {
	return func(o *bucketOptions) { o.storage = s }
}

// WithReplicas sets how many servers of a JetStream cluster hold the shared
// bucket (1 to 5), with the same rule as WithStorage. Default: 1.
func WithReplicas(n int) BucketOption {
	return func(o *bucketOptions) { o.replicas = n }
}

// WithQuota bounds what the tenant can make the store hold: at most maxBytes
// bytes (keys, values and perEntryOverhead for each write) and at most
// maxEntries entries written and not yet expired. This host counts every
// write until its expiry, overwrites and deletes included, which bounds
// what the tenant holds from above. A write past either limit fails with an
// error wrapping wasmhost.ErrLimitExceeded and reaches nothing; other
// tenants' quotas are their own. 0 means no limit. Default: no limits.
func WithQuota(maxBytes, maxEntries int64) BucketOption {
	return func(o *bucketOptions) { o.maxBytes, o.maxEntries = maxBytes, maxEntries }
}

// Bucket tuning.
const (
	// bindRetryInterval rate-limits bind attempts of the shared bucket.
	bindRetryInterval = time.Second
	// bindTimeout bounds one bind attempt.
	bindTimeout = 2 * time.Second
	// limitMarkerTTL is how long an expired key's marker stays; setting it
	// enables per-key TTLs on the bucket (JetStream's AllowMsgTTL). Deleted
	// keys' markers live as long.
	limitMarkerTTL = time.Minute
	defaultTTL     = 24 * time.Hour
	// MaxTTL is the longest any key lives: the shared bucket's maximum age,
	// RFC 8446's cap on a session's lifetime.
	MaxTTL = 7 * 24 * time.Hour
	// maxHeaderBytes is room for the headers JetStream counts into a
	// message's size (Nats-TTL, KV-Operation) above the guest's value.
	maxHeaderBytes = 1024
	// perEntryOverhead is what a quota charges for each write above its
	// key and value: about what JetStream stores besides them.
	perEntryOverhead = 64
)

// Bucket returns tenant's view of the shared sessions bucket, creating the
// bucket in JetStream on the Client's first call. It does not fail because
// NATS is down or the bucket cannot be created yet: the bucket then binds on
// a later operation. Errors: a tenant name that fails ValidateTenant
// (wrapping ErrInvalidTenant), an unknown storage, replicas outside 1 to 5,
// a TTL outside [0, MaxTTL], a negative quota, a storage or replicas other
// than the shared bucket's.
func (c *Client) Bucket(ctx context.Context, tenant string, opts ...BucketOption) (*Bucket, error) {
	if err := ValidateTenant(tenant); err != nil {
		return nil, err
	}
	return c.bucket(ctx, tenant, KeyPrefix(tenant), opts)
}

// ListenerPrefix is the key prefix of the namespace of a listener's
// client-hello guest. No tenant's prefix can equal it: tenant names have no
// '=' (see ValidateTenant).
func ListenerPrefix(name string) string { return "=listener." + name + "." }

// ListenerBucket is Bucket for the client-hello guest of the listener
// called name (the alphabet of tenant names): its keys are under
// ListenerPrefix(name), apart from every tenant's.
func (c *Client) ListenerBucket(ctx context.Context, name string, opts ...BucketOption) (*Bucket, error) {
	if err := ValidateTenant(name); err != nil {
		return nil, fmt.Errorf("natskv: listener: %w", err)
	}
	return c.bucket(ctx, "listener "+name, ListenerPrefix(name), opts)
}

func (c *Client) bucket(ctx context.Context, tenant, prefix string, opts []BucketOption) (*Bucket, error) {
	o := bucketOptions{ttl: defaultTTL, storage: "file", replicas: 1}
	for _, opt := range opts {
		opt(&o)
	}
	if o.ttl < 0 || o.ttl > MaxTTL {
		return nil, fmt.Errorf("natskv: tenant %s: TTL %s: want 0 to %s", tenant, o.ttl, MaxTTL)
	}
	if o.ttl == 0 {
		o.ttl = MaxTTL
	}
	if o.maxBytes < 0 || o.maxEntries < 0 {
		return nil, fmt.Errorf("natskv: tenant %s: quota %d bytes, %d entries: want >= 0", tenant, o.maxBytes, o.maxEntries)
	}
	s, err := c.sessions(ctx, o.storage, o.replicas)
	if err != nil {
		return nil, err
	}
	b := &Bucket{s: s, tenant: tenant, prefix: prefix, ttl: o.ttl}
	if o.maxBytes > 0 || o.maxEntries > 0 {
		b.quota = newQuota(o.maxBytes, o.maxEntries, o.ttl)
	}
	return b, nil
}

// sessions returns the Client's shared bucket, made on the first call.
func (c *Client) sessions(ctx context.Context, storage string, replicas int) (*sessions, error) {
	var st jetstream.StorageType
	switch storage {
	case "file":
		st = jetstream.FileStorage
	case "memory":
		st = jetstream.MemoryStorage
	default:
		return nil, fmt.Errorf("natskv: bucket storage %q: want \"file\" or \"memory\"", storage)
	}
	if replicas < 1 || replicas > 5 {
		return nil, fmt.Errorf("natskv: bucket replicas %d: want 1 to 5", replicas)
	}
	c.sessMu.Lock()
	defer c.sessMu.Unlock()
	if s := c.sess; s != nil {
		if s.cfg.Storage != st || s.cfg.Replicas != replicas {
			return nil, fmt.Errorf("natskv: bucket %s is %s storage with %d replicas; asked for %s with %d",
				SessionsBucket, s.cfg.Storage, s.cfg.Replicas, storage, replicas)
		}
		return s, nil
	}
	s := &sessions{c: c, cfg: jetstream.KeyValueConfig{
		Bucket:         SessionsBucket,
		Description:    "tlsgate sealed TLS sessions, one key prefix per tenant",
		History:        1,
		TTL:            MaxTTL,
		Storage:        st,
		Replicas:       replicas,
		LimitMarkerTTL: limitMarkerTTL,
		MaxValueSize:   abi.MaxValueLen + maxHeaderBytes,
	}}
	c.sess = s
	if _, ok := s.startBind(); ok && c.Connected() {
		_, _ = s.bindNow(ctx) // a failure is logged; operations retry
	} else if ok {
		s.mu.Lock()
		s.binding, s.lastTry = false, time.Time{}
		s.mu.Unlock()
	}
	return s, nil
}

// EnsureSessions makes the shared sessions bucket with that storage and
// replicas, as the first Bucket would, binding it in the background when
// NATS cannot be reached now. Errors are Bucket's.
func (c *Client) EnsureSessions(ctx context.Context, storage string, replicas int) error {
	_, err := c.sessions(ctx, storage, replicas)
	return err
}

// Name returns the shared bucket's name, SessionsBucket.
func (b *Bucket) Name() string { return SessionsBucket }

// Get returns the value of key. Errors wrap wasmhost.ErrKeyNotFound for a
// missing, deleted or expired key, wasmhost.ErrUnavailable when NATS or the
// bucket cannot be reached, or ctx's error.
func (b *Bucket) Get(ctx context.Context, key string) (_ []byte, err error) {
	defer b.record(ctx, time.Now(), &err)
	full := b.prefix + key
	if near := b.s.c.near; near != nil && validKey(key) && ctx.Err() == nil {
		if v, ok := near.get(full, time.Now()); ok {
			return v, nil // never modified: see wasmhost.KV
		}
	}
	kv, err := b.prepare(ctx, key)
	if err != nil {
		return nil, err
	}
	e, err := kv.Get(ctx, full)
	if err != nil {
		return nil, b.fail(ctx, "get", err)
	}
	return e.Value(), nil
}

// remember keeps what this gateway just wrote (full key, value kept as
// wasmhost.KV allows), as stream message seq, in the near cache.
func (b *Bucket) remember(full string, value []byte, ttl time.Duration, seq uint64) {
	if near := b.s.c.near; near != nil {
		near.put(full, value, ttl, time.Now(), seq)
	}
}

// record tells the client's breaker how an operation that started at
// started ended.
func (b *Bucket) record(ctx context.Context, started time.Time, err *error) {
	dl, _ := ctx.Deadline()
	b.s.c.brk.record(*err, started, dl)
}

// Put sets key to value. ttl > 0 expires the key after ttl, rounded up to
// whole seconds (JetStream's resolution); ttl == 0, or one past the
// tenant's TTL, keeps it for the tenant's TTL. Errors wrap
// wasmhost.ErrUnavailable, wasmhost.ErrLimitExceeded, or are ctx's error.
func (b *Bucket) Put(ctx context.Context, key string, value []byte, ttl time.Duration) (err error) {
	defer b.record(ctx, time.Now(), &err)
	if _, err := b.prepare(ctx, key); err != nil {
		return err
	}
	ttl = b.keyTTL(ttl)
	refund, err := b.charge(key, value, ttl)
	if err != nil {
		return err
	}
	// KeyValue.Put has no TTL option: publish to the key's subject, as
	// Put does, with a per-message TTL.
	full := b.prefix + key
	ack, err := b.s.c.js.Publish(ctx, "$KV."+SessionsBucket+"."+full, value, jetstream.WithMsgTTL(ttl))
	if err != nil {
		refund()
		b.s.c.near.dropIf(full)
		return b.fail(ctx, "put", err)
	}
	b.remember(full, value, ttl, ack.Sequence)
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
	ttl = b.keyTTL(ttl)
	refund, err := b.charge(key, value, ttl)
	if err != nil {
		return err
	}
	full := b.prefix + key
	rev, err := kv.Create(ctx, full, value, jetstream.KeyTTL(ttl))
	if err != nil {
		refund()
		return b.fail(ctx, "create", err)
	}
	b.remember(full, value, ttl, rev)
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
	// A purge with a marker TTL: the marker goes after limitMarkerTTL,
	// instead of living for the bucket's maximum age.
	full := b.prefix + key
	b.s.c.near.dropIf(full) // the other gateways see the purge marker
	if err := kv.Purge(ctx, full, jetstream.PurgeTTL(limitMarkerTTL)); err != nil {
		return b.fail(ctx, "delete", err)
	}
	return nil
}

// keyTTL is the TTL a write gets: the one asked for, rounded up to whole
// seconds, and no more than the tenant's.
func (b *Bucket) keyTTL(ttl time.Duration) time.Duration {
	if ttl <= 0 || ttl > b.ttl {
		ttl = b.ttl
	}
	return roundTTL(ttl)
}

// charge counts a write against the tenant's quota, or refuses it. refund
// takes it back (the write failed).
func (b *Bucket) charge(key string, value []byte, ttl time.Duration) (refund func(), err error) {
	if b.quota == nil {
		return func() {}, nil
	}
	size := int64(len(b.prefix) + len(key) + len(value) + perEntryOverhead)
	refund, err = b.quota.charge(time.Now(), ttl, size)
	if err != nil {
		return nil, fmt.Errorf("natskv: tenant %s: %w: %w", b.tenant, wasmhost.ErrLimitExceeded, err)
	}
	return refund, nil
}

// prepare checks key and returns the bound bucket.
func (b *Bucket) prepare(ctx context.Context, key string) (jetstream.KeyValue, error) {
	if !validKey(key) {
		return nil, fmt.Errorf("natskv: tenant %s: invalid key (want [-/_=.A-Za-z0-9]+, no leading, trailing or double '.')", b.tenant)
	}
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("natskv: tenant %s: %w", b.tenant, err)
	}
	return b.s.bound(ctx)
}

// bound returns the bound bucket. When it is not bound, it starts binding
// it in the background (unless a bind is running or the last attempt is
// less than bindRetryInterval old) and fails with wasmhost.ErrUnavailable
// at once: a bind takes round trips that must not be charged to the
// handshake whose fetch happened to find the bucket unbound (after a NATS
// restart, say), whose deadline is far shorter than bindTimeout.
func (s *sessions) bound(ctx context.Context) (jetstream.KeyValue, error) {
	if !s.c.Connected() {
		return nil, fmt.Errorf("natskv: bucket %s: %w: not connected to NATS", SessionsBucket, wasmhost.ErrUnavailable)
	}
	if !s.c.brk.allow() {
		return nil, fmt.Errorf("natskv: bucket %s: %w: %w", SessionsBucket, wasmhost.ErrUnavailable, errBreakerOpen)
	}
	if h := s.kv.Load(); h != nil {
		return h.kv, nil
	}
	if last, ok := s.startBind(); !ok {
		if last == nil {
			last = errors.New("bucket is being bound")
		}
		return nil, fmt.Errorf("natskv: bucket %s: %w: %w", SessionsBucket, wasmhost.ErrUnavailable, last)
	}
	go s.bindNow(context.WithoutCancel(ctx))
	return nil, fmt.Errorf("natskv: bucket %s: %w: bucket is being bound", SessionsBucket, wasmhost.ErrUnavailable)
}

// startBind claims the right to run a bind attempt now; otherwise it
// returns the last attempt's error.
func (s *sessions) startBind() (lastErr error, ok bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.binding || (!s.lastTry.IsZero() && time.Since(s.lastTry) < bindRetryInterval) {
		return s.lastErr, false
	}
	s.binding, s.lastTry = true, time.Now()
	return nil, true
}

// bindNow runs one bind attempt claimed with startBind, bounded by
// bindTimeout, and records its result.
func (s *sessions) bindNow(ctx context.Context) (jetstream.KeyValue, error) {
	ctx, cancel := context.WithTimeout(ctx, bindTimeout)
	kv, err := s.bind(ctx)
	if err == nil {
		s.watchNear(ctx) // before the bucket serves: a near cache serves only while watching
	}
	cancel()
	s.mu.Lock()
	s.binding, s.lastErr = false, err
	if err == nil {
		s.kv.Store(&boundKV{kv: kv})
	}
	s.mu.Unlock()
	if err != nil {
		s.c.log.Warn("natskv: cannot bind bucket; will retry", "bucket", SessionsBucket, "err", err)
		return nil, fmt.Errorf("natskv: bucket %s: %w: %w", SessionsBucket, wasmhost.ErrUnavailable, err)
	}
	return kv, nil
}

// bind creates or updates the bucket. If JetStream refuses the update (a
// bucket made with a different storage, say), it uses the existing bucket as
// it is. A client connected over the network first looks the bucket up,
// and creates it only if it does not exist: a gateway's NATS user may not
// create or change streams (see RoleGateway); the gateway embedding the
// server (in-process) creates and updates it.
func (s *sessions) bind(ctx context.Context) (jetstream.KeyValue, error) {
	if !s.c.inProcess {
		kv, err := s.c.js.KeyValue(ctx, SessionsBucket)
		if err == nil || !errors.Is(err, jetstream.ErrBucketNotFound) {
			return kv, err
		}
	}
	kv, err := s.c.js.CreateOrUpdateKeyValue(ctx, s.cfg)
	if err == nil {
		return kv, nil
	}
	var apiErr *jetstream.APIError
	if !errors.As(err, &apiErr) || apiErr.Code == 503 {
		return nil, err
	}
	kv, err2 := s.c.js.KeyValue(ctx, SessionsBucket)
	if err2 != nil {
		return nil, err
	}
	s.c.log.Warn("natskv: bucket exists with another configuration; using it as it is", "bucket", SessionsBucket, "err", err)
	return kv, nil
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
		return fmt.Errorf("natskv: %s: bucket %s: %w: %w", op, SessionsBucket, wasmhost.ErrLimitExceeded, err)
	case streamGone(err):
		b.s.kv.Store(nil) // rebind on a later operation, and watch again
		if near := b.s.c.near; near != nil {
			near.watching.Store(false)
			near.clear()
		}
		return fmt.Errorf("natskv: %s: bucket %s: %w: %w", op, SessionsBucket, wasmhost.ErrUnavailable, err)
	case unreachable(err) || !b.s.c.Connected():
		return fmt.Errorf("natskv: %s: %w: %w", op, wasmhost.ErrUnavailable, err)
	}
	return fmt.Errorf("natskv: %s: tenant %s: %w", op, b.tenant, err)
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
