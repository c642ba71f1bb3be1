package prebuilt_test

import (
	"context"
	"encoding/base64"
	"errors"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/tlsgate/tlsgate/abi"
	"github.com/tlsgate/tlsgate/gateway/natskv"
	"github.com/tlsgate/tlsgate/guests/prebuilt"
	"github.com/tlsgate/tlsgate/wasmhost"
	"github.com/tlsgate/tlsgate/wasmhost/wasmhosttest"
)

var quiet = slog.New(slog.DiscardHandler)

// env is the real stack the gateway runs the guest on: an embedded
// nats-server, a natskv client, and a wasmhost runtime whose compilation
// cache is shared by every run of these tests.
type env struct {
	client *natskv.Client
	rt     *wasmhost.Runtime
}

func newEnv(t *testing.T, clientOpts ...natskv.ClientOption) *env {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if len(clientOpts) == 0 {
		srv, err := natskv.StartEmbedded(ctx, natskv.WithDataDir(t.TempDir()))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = srv.Close(context.Background()) })
		clientOpts = []natskv.ClientOption{natskv.WithInProcess(srv)}
	}
	c, err := natskv.Connect(ctx, append(clientOpts, natskv.WithLogger(quiet))...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close(context.Background()) })
	rt, err := wasmhost.NewRuntime(ctx, wasmhost.WithCompilationCacheDir(cacheDir(t)), wasmhost.WithLogger(quiet))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = rt.Close(context.Background()) })
	return &env{client: c, rt: rt}
}

func (e *env) bucket(t *testing.T, tenant string) *natskv.Bucket {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	b, err := e.client.Bucket(ctx, tenant, natskv.WithStorage("memory"))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// impl is one implementation of a reference guest: the Go guest or its
// AssemblyScript port, which must behave the same.
type impl struct {
	name string
	wasm []byte
}

var (
	sessionCaches = []impl{{"go", prebuilt.SessionCache}, {"assemblyscript", prebuilt.SessionCacheAS}}
	policyCaches  = []impl{{"go", prebuilt.PolicyCache}, {"assemblyscript", prebuilt.PolicyCacheAS}}
)

// each runs test once per implementation, as a subtest named after it.
func each(t *testing.T, impls []impl, test func(*testing.T, impl)) {
	for _, g := range impls {
		t.Run(g.name, func(t *testing.T) { test(t, g) })
	}
}

// pool loads implementation g of sessioncache for tenant with config.
func (e *env) pool(t *testing.T, g impl, tenant string, config string) (*wasmhost.Pool, error) {
	t.Helper()
	return e.guestPool(t, "sessioncache-"+g.name+".wasm", g.wasm, tenant, config)
}

// guestPool loads an embedded guest for tenant with config, on a bucket of
// its own.
func (e *env) guestPool(t *testing.T, name string, wasm []byte, tenant, config string) (*wasmhost.Pool, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	m, err := e.rt.Compile(ctx, name, wasm)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = m.Close(context.Background()) })
	p, err := wasmhost.NewPool(ctx, m, wasmhost.WithTenant(tenant), wasmhost.WithGuestConfig([]byte(config)),
		wasmhost.WithKV(e.bucket(t, tenant)), wasmhost.WithPoolLogger(quiet), wasmhost.WithCallTimeout(30*time.Second),
		wasmhost.WithInitTimeout(30*time.Second)) // generous: a busy machine
	if err == nil {
		t.Cleanup(func() { _ = p.Close(context.Background()) })
	}
	return p, err
}

// TestSessionCacheConformance runs the guest conformance kit on the embedded
// guest with a natskv view per tenant of the shared sessions bucket, per-key TTLs included.
func TestSessionCacheConformance(t *testing.T) { each(t, sessionCaches, testSessionCacheConformance) }

func testSessionCacheConformance(t *testing.T, g impl) {
	e := newEnv(t)
	h := wasmhosttest.NewWasmhost(e.rt, func(_ context.Context, tenant string) (wasmhost.KV, error) { return e.bucket(t, tenant), nil },
		wasmhost.WithPoolLogger(quiet))
	wasmhosttest.TestGuest(t, h, g.wasm, wasmhosttest.WithTTLCheck(),
		wasmhosttest.WithGuestConfig([]byte("prefix=sess/")))
}

func TestSessionCacheKeys(t *testing.T) { each(t, sessionCaches, testSessionCacheKeys) }

func testSessionCacheKeys(t *testing.T, g impl) {
	e := newEnv(t)
	id := []byte{0x00, 0xff, 0x10, 0x20, 0xfe}
	tests := []struct {
		name   string
		config string
		prefix string
	}{
		{name: "default prefix", config: "", prefix: "s/"},
		{name: "configured prefix", config: "prefix=sess/", prefix: "sess/"},
		{name: "empty prefix", config: "prefix=", prefix: ""},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tenant := "keys-" + strconv.Itoa(i)
			p, err := e.pool(t, g, tenant, tt.config)
			if err != nil {
				t.Fatal(err)
			}
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			if _, err := p.Fetch(ctx, wasmhost.FetchInput{SessionID: id}); !errors.Is(err, wasmhost.ErrMiss) {
				t.Fatalf("Fetch before Store: error = %v, want ErrMiss", err)
			}
			if err := p.Store(ctx, wasmhost.StoreInput{SessionID: id, Session: []byte("sealed"), TTL: time.Hour, Created: time.Now()}); err != nil {
				t.Fatalf("Store: %v", err)
			}
			// The host hands the KV base64url(guest key); the guest key is
			// prefix + raw session ID.
			key := base64.RawURLEncoding.EncodeToString(append([]byte(tt.prefix), id...))
			if v, err := e.bucket(t, tenant).Get(ctx, key); err != nil || string(v) != "sealed" {
				t.Fatalf("bucket key %s: %q, %v, want \"sealed\"", key, v, err)
			}
			got, err := p.Fetch(ctx, wasmhost.FetchInput{SessionID: id})
			if err != nil || string(got) != "sealed" {
				t.Fatalf("Fetch after Store = %q, %v, want \"sealed\"", got, err)
			}
		})
	}
}

func TestSessionCacheRefusesBadConfig(t *testing.T) {
	each(t, sessionCaches, testSessionCacheRefusesBadConfig)
}

func testSessionCacheRefusesBadConfig(t *testing.T, g impl) {
	e := newEnv(t)
	for i, config := range []string{"bucket=x", "prefix\xc3=x/", "prefix=\xffs/", "prefix=" + strings.Repeat("p", 480)} {
		_, err := e.pool(t, g, "badconfig-"+strconv.Itoa(i), config)
		var ge *wasmhost.GuestError
		if !errors.As(err, &ge) || ge.Kind != wasmhost.FaultInit {
			t.Errorf("NewPool with config %q: error = %v, want a FaultInit GuestError", config, err)
		}
	}
	if _, err := e.pool(t, g, "goodconfig", "prefix="+strings.Repeat("p", 479)); err != nil {
		t.Errorf("NewPool with a 479-byte prefix: %v", err)
	}
}

// TestSessionCacheWhenNATSIsDown checks that a store outage is a guest error
// with StatusUnavailable, not a miss, so metrics can tell them apart.
func TestSessionCacheWhenNATSIsDown(t *testing.T) {
	each(t, sessionCaches, testSessionCacheWhenNATSIsDown)
}

func testSessionCacheWhenNATSIsDown(t *testing.T, g impl) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	e := newEnv(t, natskv.WithURL("nats://"+addr))
	p, err := e.pool(t, g, "down", "")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	tests := []struct {
		name string
		call func() error
	}{
		{name: "fetch", call: func() error {
			_, err := p.Fetch(ctx, wasmhost.FetchInput{SessionID: []byte("id")})
			return err
		}},
		{name: "store", call: func() error {
			return p.Store(ctx, wasmhost.StoreInput{SessionID: []byte("id"), Session: []byte("s"), TTL: time.Minute})
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.call()
			var ge *wasmhost.GuestError
			if !errors.As(err, &ge) || ge.Kind != wasmhost.FaultStatus || ge.Status != abi.StatusUnavailable {
				t.Fatalf("error = %v, want a FaultStatus GuestError with StatusUnavailable", err)
			}
		})
	}
}

// BenchmarkSessionCacheCompile compiles the embedded guest with an empty
// compilation cache ("cold") and from a filled one ("warm"): the figures
// of docs/performance.md (go test -bench SessionCacheCompile ./guests/prebuilt/).
func BenchmarkSessionCacheCompile(b *testing.B) {
	ctx := context.Background()
	compile := func(b *testing.B, dir string) {
		rt, err := wasmhost.NewRuntime(ctx, wasmhost.WithCompilationCacheDir(dir), wasmhost.WithLogger(quiet))
		if err != nil {
			b.Fatal(err)
		}
		defer rt.Close(ctx)
		m, err := rt.Compile(ctx, "sessioncache.wasm", prebuilt.SessionCache)
		if err != nil || !m.HasFetch() || !m.HasStore() {
			b.Fatalf("compile: %v", err)
		}
	}
	b.Run("cold", func(b *testing.B) {
		for b.Loop() {
			compile(b, b.TempDir())
		}
	})
	b.Run("warm", func(b *testing.B) {
		shared := b.TempDir()
		compile(b, shared) // fills the cache, before the timed loop
		for b.Loop() {
			compile(b, shared)
		}
	})
}

// cacheDir is a wazero compilation cache shared by every run of these
// tests, so that the standard-Go guest is compiled once per machine.
func cacheDir(t *testing.T) string {
	dir := filepath.Join(os.TempDir(), "tlsgate-test-wazero-cache")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	return dir
}
