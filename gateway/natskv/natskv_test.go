package natskv_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/tlsgate/tlsgate/gateway/natskv"
	"github.com/tlsgate/tlsgate/wasmhost"
)

var quiet = slog.New(slog.DiscardHandler)

// startServer starts an embedded server with file storage in a test
// directory (or dir, if given) and closes it at the end of the test.
func startServer(t *testing.T, opts ...natskv.ServerOption) *natskv.Server {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	opts = append([]natskv.ServerOption{natskv.WithDataDir(t.TempDir())}, opts...)
	s, err := natskv.StartEmbedded(ctx, opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { closeServer(t, s) })
	return s
}

func closeServer(t *testing.T, s *natskv.Server) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := s.Close(ctx); err != nil {
		t.Error(err)
	}
}

func connect(t *testing.T, opts ...natskv.ClientOption) *natskv.Client {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	c, err := natskv.Connect(ctx, append([]natskv.ClientOption{natskv.WithLogger(quiet)}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { closeClient(t, c) })
	return c
}

func closeClient(t *testing.T, c *natskv.Client) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := c.Close(ctx); err != nil {
		t.Error(err)
	}
}

func bucket(t *testing.T, c *natskv.Client, tenant string, opts ...natskv.BucketOption) *natskv.Bucket {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	b, err := c.Bucket(ctx, tenant, opts...)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// opCtx is the context of one operation that must succeed (or fail at
// once): generous, as a loaded machine is slow.
func opCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// eventually retries f every 100ms until it returns nil or limit passes.
func eventually(t *testing.T, limit time.Duration, what string, f func() error) {
	t.Helper()
	deadline := time.Now().Add(limit)
	for {
		err := f()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: still failing after %s: %v", what, limit, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	l.Close()
	return port
}

func TestBucketOperations(t *testing.T) {
	s := startServer(t)
	b := bucket(t, connect(t, natskv.WithInProcess(s)), "acme")
	if got, want := b.Name(), "tlsgate_sessions"; got != want {
		t.Errorf("Name() = %q, want %q", got, want)
	}
	// Steps run in order against one bucket: each row is what a guest does
	// next and what it sees.
	steps := []struct {
		name    string
		op      func(ctx context.Context) ([]byte, error)
		want    string
		wantErr error
	}{
		{name: "get of a missing key is not found", op: get(b, "k1"), wantErr: wasmhost.ErrKeyNotFound},
		{name: "put stores a value", op: put(b, "k1", "v1", 0)},
		{name: "get returns it", op: get(b, "k1"), want: "v1"},
		{name: "put replaces it", op: put(b, "k1", "v2", 0)},
		{name: "get returns the new value", op: get(b, "k1"), want: "v2"},
		{name: "create of a present key fails", op: create(b, "k1", "v3", 0), wantErr: wasmhost.ErrKeyExists},
		{name: "the value is unchanged", op: get(b, "k1"), want: "v2"},
		{name: "create of an absent key succeeds", op: create(b, "k2", "c", 0)},
		{name: "get returns the created value", op: get(b, "k2"), want: "c"},
		{name: "delete removes the key", op: del(b, "k1")},
		{name: "get after delete is not found", op: get(b, "k1"), wantErr: wasmhost.ErrKeyNotFound},
		{name: "create after delete succeeds", op: create(b, "k1", "again", 0)},
		{name: "get returns the re-created value", op: get(b, "k1"), want: "again"},
		{name: "delete of a missing key succeeds", op: del(b, "never-written")},
		{name: "base64url keys work", op: put(b, "s_-AZaz09", "x", time.Minute)},
		{name: "empty values work", op: put(b, "empty", "", 0)},
		{name: "empty value reads back", op: get(b, "empty"), want: ""},
	}
	for _, st := range steps {
		got, err := st.op(opCtx(t))
		if st.wantErr != nil {
			if !errors.Is(err, st.wantErr) {
				t.Fatalf("%s: error = %v, want %v", st.name, err, st.wantErr)
			}
			continue
		}
		if err != nil {
			t.Fatalf("%s: %v", st.name, err)
		}
		if string(got) != st.want {
			t.Fatalf("%s: got %q, want %q", st.name, got, st.want)
		}
	}
}

func TestBucketRejectsBadKeys(t *testing.T) {
	s := startServer(t)
	b := bucket(t, connect(t, natskv.WithInProcess(s)), "acme")
	for _, key := range []string{"", "a b", "a*", "a>", ".a", "a.", "a..b", "\x00"} {
		t.Run(strconv.Quote(key), func(t *testing.T) {
			for name, op := range map[string]func(context.Context) ([]byte, error){
				"get": get(b, key), "put": put(b, key, "v", 0), "put ttl": put(b, key, "v", time.Second),
				"create": create(b, key, "v", 0), "delete": del(b, key),
			} {
				_, err := op(opCtx(t))
				if err == nil || errors.Is(err, wasmhost.ErrUnavailable) {
					t.Errorf("%s(%q) error = %v, want an invalid key error", name, key, err)
				}
			}
		})
	}
}

func TestPerKeyTTL(t *testing.T) {
	s := startServer(t)
	b := bucket(t, connect(t, natskv.WithInProcess(s)), "acme")
	tests := []struct {
		name string
		op   func(ctx context.Context) ([]byte, error)
		key  string
	}{
		{name: "put with TTL", op: put(b, "put-ttl", "v", 1200*time.Millisecond), key: "put-ttl"},
		{name: "create with TTL", op: create(b, "create-ttl", "v", time.Second), key: "create-ttl"},
	}
	for _, tt := range tests {
		if _, err := tt.op(opCtx(t)); err != nil {
			t.Fatalf("%s: %v", tt.name, err)
		}
		if _, err := b.Get(opCtx(t), tt.key); err != nil {
			t.Fatalf("%s: right after writing: %v", tt.name, err)
		}
	}
	if _, err := put(b, "no-ttl", "v", 0)(opCtx(t)); err != nil {
		t.Fatal(err)
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			// TTLs have one-second resolution (1.2s rounds up to 2s) and the
			// server expires messages on a timer: allow a few seconds.
			eventually(t, 30*time.Second, tt.key+" expires", func() error {
				_, err := b.Get(opCtx(t), tt.key)
				if errors.Is(err, wasmhost.ErrKeyNotFound) {
					return nil
				}
				return errors.New("still readable")
			})
		})
	}
	if _, err := b.Get(opCtx(t), "no-ttl"); err != nil {
		t.Errorf("a key without TTL was lost: %v", err)
	}
	t.Run("create after expiry", func(t *testing.T) {
		if _, err := create(b, "create-ttl", "new", 0)(opCtx(t)); err != nil {
			t.Fatal(err)
		}
		if v, err := b.Get(opCtx(t), "create-ttl"); err != nil || string(v) != "new" {
			t.Fatalf("Get = %q, %v, want \"new\"", v, err)
		}
	})
}

func TestTenantIsolation(t *testing.T) {
	s := startServer(t)
	c := connect(t, natskv.WithInProcess(s))
	a, b := bucket(t, c, "tenant-a"), bucket(t, c, "tenant_b")
	if err := a.Put(opCtx(t), "shared-key", []byte("a's"), 0); err != nil {
		t.Fatal(err)
	}
	if _, err := b.Get(opCtx(t), "shared-key"); !errors.Is(err, wasmhost.ErrKeyNotFound) {
		t.Fatalf("tenant_b reads tenant-a's key: error = %v, want ErrKeyNotFound", err)
	}
	if err := b.Put(opCtx(t), "shared-key", []byte("b's"), 0); err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		name   string
		bucket *natskv.Bucket
		want   string
	}{
		{name: "tenant-a", bucket: a, want: "a's"},
		{name: "tenant_b", bucket: b, want: "b's"},
	} {
		v, err := tt.bucket.Get(opCtx(t), "shared-key")
		if err != nil || string(v) != tt.want {
			t.Errorf("%s: Get = %q, %v, want %q", tt.name, v, err, tt.want)
		}
	}
	// In the shared bucket each tenant's keys are under its own prefix, and
	// a key that looks like another tenant's prefix stays under its own.
	if err := a.Put(opCtx(t), "tenant_b.shared-key", []byte("a's forgery"), 0); err != nil {
		t.Fatal(err)
	}
	if v, err := b.Get(opCtx(t), "shared-key"); err != nil || string(v) != "b's" {
		t.Errorf("tenant_b's key after tenant-a wrote \"tenant_b.shared-key\": %q, %v", v, err)
	}
	js, err := jetstream.New(natsConn(t, s))
	if err != nil {
		t.Fatal(err)
	}
	kv, err := js.KeyValue(opCtx(t), natskv.SessionsBucket)
	if err != nil {
		t.Fatal(err)
	}
	keys, err := kv.Keys(opCtx(t))
	if err != nil {
		t.Fatal(err)
	}
	slices.Sort(keys)
	want := []string{"tenant-a.shared-key", "tenant-a.tenant_b.shared-key", "tenant_b.shared-key"}
	if !slices.Equal(keys, want) {
		t.Errorf("keys in %s: %q, want %q", natskv.SessionsBucket, keys, want)
	}
}

func TestEmbeddedServerKeepsDataAcrossRestart(t *testing.T) {
	dir := t.TempDir()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()

	s1, err := natskv.StartEmbedded(ctx, natskv.WithDataDir(dir))
	if err != nil {
		t.Fatal(err)
	}
	c1, err := natskv.Connect(ctx, natskv.WithInProcess(s1), natskv.WithLogger(quiet))
	if err != nil {
		t.Fatal(err)
	}
	b1, err := c1.Bucket(ctx, "acme")
	if err != nil {
		t.Fatal(err)
	}
	if err := b1.Put(ctx, "session", []byte("sealed"), time.Hour); err != nil {
		t.Fatal(err)
	}
	closeClient(t, c1)
	closeServer(t, s1)
	if err := s1.Close(ctx); err != nil { // a second Close is harmless
		t.Errorf("second Close: %v", err)
	}

	s2 := startServer(t, natskv.WithDataDir(dir))
	b2 := bucket(t, connect(t, natskv.WithInProcess(s2)), "acme")
	v, err := b2.Get(ctx, "session")
	if err != nil || string(v) != "sealed" {
		t.Fatalf("after restart: Get = %q, %v, want \"sealed\"", v, err)
	}
}

func TestConnectWhileNATSIsDown(t *testing.T) {
	port := freePort(t)
	addr := "127.0.0.1:" + strconv.Itoa(port)
	admit, _, seed := users(t) // a deployer's: the first client creates the bucket
	c := connect(t, natskv.WithURL("nats://"+addr), natskv.WithName("tlsgate-test"), natskv.WithNkeySeedFile(seed))
	if c.Connected() {
		t.Fatal("Connected() = true with no server listening")
	}
	b := bucket(t, c, "acme")

	for name, op := range map[string]func(context.Context) ([]byte, error){
		"get": get(b, "k"), "put": put(b, "k", "v", 0), "put ttl": put(b, "k", "v", time.Minute),
		"create": create(b, "k", "v", 0), "delete": del(b, "k"),
	} {
		start := time.Now()
		_, err := op(opCtx(t))
		if !errors.Is(err, wasmhost.ErrUnavailable) {
			t.Errorf("%s while NATS is down: error = %v, want ErrUnavailable", name, err)
		}
		if d := time.Since(start); d > 500*time.Millisecond {
			t.Errorf("%s while NATS is down took %s, want a fast failure", name, d)
		}
	}

	s := startServer(t, append(admit, natskv.WithClientListen(addr))...)
	if got, want := s.ClientURL(), "nats://"+addr; got != want {
		t.Errorf("ClientURL() = %q, want %q", got, want)
	}
	eventually(t, time.Minute, "put after NATS came up", func() error {
		return b.Put(opCtx(t), "k", []byte("v"), 0)
	})
	if !c.Connected() {
		t.Error("Connected() = false after a successful put")
	}
	if v, err := b.Get(opCtx(t), "k"); err != nil || string(v) != "v" {
		t.Fatalf("Get = %q, %v, want \"v\"", v, err)
	}
}

func TestBucketHealsWhenItsStreamIsDeleted(t *testing.T) {
	s := startServer(t)
	c := connect(t, natskv.WithInProcess(s))
	b := bucket(t, c, "acme")
	if err := b.Put(opCtx(t), "k", []byte("v"), 0); err != nil {
		t.Fatal(err)
	}
	// Someone deletes the bucket behind the gateway's back (an operator, or
	// a memory-only server restarted): the next operations fail as
	// unavailable, then the bucket is re-created.
	if err := deleteBucket(opCtx(t), s, b.Name()); err != nil {
		t.Fatal(err)
	}
	eventually(t, time.Minute, "get after the bucket was deleted", func() error {
		_, err := b.Get(opCtx(t), "k")
		if errors.Is(err, wasmhost.ErrKeyNotFound) {
			return nil // a fresh, empty bucket
		}
		return fmt.Errorf("get: %w", err)
	})
	if err := deleteBucket(opCtx(t), s, b.Name()); err != nil {
		t.Fatal(err)
	}
	eventually(t, time.Minute, "put after the bucket was deleted again", func() error {
		return b.Put(opCtx(t), "k2", []byte("v2"), time.Minute)
	})
	if v, err := b.Get(opCtx(t), "k2"); err != nil || string(v) != "v2" {
		t.Fatalf("Get = %q, %v, want \"v2\"", v, err)
	}
}

func TestBucketOptionErrors(t *testing.T) {
	s := startServer(t)
	c := connect(t, natskv.WithInProcess(s))
	tests := []struct {
		name    string
		tenant  string
		opts    []natskv.BucketOption
		invalid bool // wraps ErrInvalidTenant
	}{
		{name: "empty tenant", tenant: "", invalid: true},
		{name: "tenant with a dot", tenant: "a.b", invalid: true},
		{name: "tenant with a space", tenant: "a b", invalid: true},
		{name: "tenant of 65 characters", tenant: string(make65()), invalid: true},
		{name: "unknown storage", tenant: "ok", opts: []natskv.BucketOption{natskv.WithStorage("disk")}},
		{name: "zero replicas", tenant: "ok", opts: []natskv.BucketOption{natskv.WithReplicas(0)}},
		{name: "negative TTL", tenant: "ok", opts: []natskv.BucketOption{natskv.WithTTL(-time.Second)}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := c.Bucket(opCtx(t), tt.tenant, tt.opts...)
			if err == nil {
				t.Fatal("Bucket succeeded, want an error")
			}
			if errors.Is(err, natskv.ErrInvalidTenant) != tt.invalid {
				t.Errorf("error = %v; errors.Is(err, ErrInvalidTenant) = %v, want %v", err, !tt.invalid, tt.invalid)
			}
		})
	}
	if _, err := c.Bucket(opCtx(t), string(make65()[:64]), natskv.WithTTL(0), natskv.WithStorage("memory")); err != nil {
		t.Errorf("64-character tenant, no TTL, memory: %v", err)
	}
}

func TestStartEmbeddedErrors(t *testing.T) {
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	tests := []struct {
		name   string
		listen string
	}{
		{name: "port in use", listen: busy.Addr().String()},
		{name: "no port", listen: "127.0.0.1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			admit, _, _ := users(t)
			s, err := natskv.StartEmbedded(ctx, append(admit, natskv.WithDataDir(t.TempDir()), natskv.WithClientListen(tt.listen),
				natskv.WithServerLogger(quiet))...)
			if err == nil {
				closeServer(t, s)
				t.Fatal("StartEmbedded succeeded, want an error")
			}
			if !strings.HasPrefix(err.Error(), "natskv: ") {
				t.Errorf("error %q lacks the package prefix", err)
			}
		})
	}
}

func TestConnectNeedsAServer(t *testing.T) {
	_, err := natskv.Connect(context.Background())
	if err == nil {
		t.Fatal("Connect with no server succeeded")
	}
}

func make65() []byte {
	b := make([]byte, 65)
	for i := range b {
		b[i] = 'x'
	}
	return b
}

func get(b *natskv.Bucket, key string) func(context.Context) ([]byte, error) {
	return func(ctx context.Context) ([]byte, error) { return b.Get(ctx, key) }
}

func put(b *natskv.Bucket, key, value string, ttl time.Duration) func(context.Context) ([]byte, error) {
	return func(ctx context.Context) ([]byte, error) { return nil, b.Put(ctx, key, []byte(value), ttl) }
}

func create(b *natskv.Bucket, key, value string, ttl time.Duration) func(context.Context) ([]byte, error) {
	return func(ctx context.Context) ([]byte, error) {
		return nil, b.Create(ctx, key, []byte(value), ttl)
	}
}

func del(b *natskv.Bucket, key string) func(context.Context) ([]byte, error) {
	return func(ctx context.Context) ([]byte, error) { return nil, b.Delete(ctx, key) }
}

// A tenant's quota stops its own writes and no one else's: a full bucket
// refuses writes with ErrLimitExceeded, while another tenant's bucket on the
// same server keeps taking them.
func TestBucketQuota(t *testing.T) {
	s := startServer(t)
	c := connect(t, natskv.WithInProcess(s))
	tests := []struct {
		name       string
		maxBytes   int64
		maxEntries int64
		value      int // bytes per write
	}{
		{name: "bytes", maxBytes: 16 << 10, value: 1000},
		{name: "entries", maxEntries: 5, value: 10},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			full := bucket(t, c, "full-"+tt.name, natskv.WithQuota(tt.maxBytes, tt.maxEntries))
			other := bucket(t, c, "other-"+tt.name)
			value := make([]byte, tt.value)
			var err error
			n := 0
			for ; n < 1000; n++ {
				if err = full.Put(opCtx(t), fmt.Sprintf("k%d", n), value, 0); err != nil {
					break
				}
			}
			if !errors.Is(err, wasmhost.ErrLimitExceeded) {
				t.Fatalf("write %d to the full bucket: %v, want ErrLimitExceeded", n, err)
			}
			if tt.maxEntries > 0 && int64(n) != tt.maxEntries {
				t.Errorf("the bucket took %d entries, want %d", n, tt.maxEntries)
			}
			if tt.maxBytes > 0 && int64(n*tt.value) > tt.maxBytes {
				t.Errorf("the bucket took %d bytes of values, quota %d", n*tt.value, tt.maxBytes)
			}
			if err := full.Create(opCtx(t), "another", value, time.Minute); !errors.Is(err, wasmhost.ErrLimitExceeded) {
				t.Errorf("create with TTL in the full bucket: %v, want ErrLimitExceeded", err)
			}
			for i := range 50 {
				if err := other.Put(opCtx(t), fmt.Sprintf("k%d", i), value, 0); err != nil {
					t.Fatalf("another tenant's write %d while this one is full: %v", i, err)
				}
			}
			if v, err := full.Get(opCtx(t), "k0"); err != nil || len(v) != tt.value {
				t.Errorf("reads of the full bucket still work: got %d bytes, %v", len(v), err)
			}
		})
	}
}

// natsConn is a plain connection to s, closed with the test.
func natsConn(t *testing.T, s *natskv.Server) *nats.Conn {
	t.Helper()
	nc, err := s.InProcessConn()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	return nc
}

// A data dir of the one-bucket-per-tenant layout is migrated: the
// sessions of each legacy bucket are readable through the tenant's view of
// the shared bucket, and the legacy buckets are gone.
func TestMigrateLegacyBuckets(t *testing.T) {
	s := startServer(t)
	js, err := jetstream.New(natsConn(t, s))
	if err != nil {
		t.Fatal(err)
	}
	for _, tenant := range []string{"acme", "shop"} {
		kv, err := js.CreateKeyValue(opCtx(t), jetstream.KeyValueConfig{Bucket: "tlsgate_sessions_" + tenant, TTL: time.Hour})
		if err != nil {
			t.Fatal(err)
		}
		for i := range 3 {
			if _, err := kv.Put(opCtx(t), fmt.Sprintf("s%d", i), []byte(tenant+" session")); err != nil {
				t.Fatal(err)
			}
		}
	}
	c := connect(t, natskv.WithInProcess(s))
	acme, shop := bucket(t, c, "acme"), bucket(t, c, "shop")
	m, err := c.MigrateBuckets(opCtx(t))
	if err != nil {
		t.Fatal(err)
	}
	if m.Buckets != 2 || m.Keys != 6 {
		t.Errorf("migrated %+v, want 2 buckets and 6 keys", m)
	}
	for name, b := range map[string]*natskv.Bucket{"acme": acme, "shop": shop} {
		if v, err := b.Get(opCtx(t), "s2"); err != nil || string(v) != name+" session" {
			t.Errorf("%s: s2 after migration = %q, %v", name, v, err)
		}
	}
	for _, tenant := range []string{"acme", "shop"} {
		if _, err := js.KeyValue(opCtx(t), "tlsgate_sessions_"+tenant); !errors.Is(err, jetstream.ErrBucketNotFound) {
			t.Errorf("legacy bucket of %s after migration: %v, want ErrBucketNotFound", tenant, err)
		}
	}
	if m, err := c.MigrateBuckets(opCtx(t)); err != nil || m.Buckets != 0 {
		t.Errorf("a second migration: %+v, %v, want nothing to do", m, err)
	}
}
