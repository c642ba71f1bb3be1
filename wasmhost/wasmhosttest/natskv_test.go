package wasmhosttest_test

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/tlsgate/tlsgate/wasmhost"
)

// kvStore is a real in-process nats-server with one JetStream key-value
// bucket shared by every tenant; each tenant's namespace is the key prefix
// "<tenant>.", so tenant isolation is the host's doing, not separate buckets.
//
// It is a test-only stand-in for gateway/natskv.
type kvStore struct {
	js     jetstream.JetStream
	kv     jetstream.KeyValue
	bucket string
}

func newKVStore(t testing.TB) *kvStore {
	t.Helper()
	srv, err := server.NewServer(&server.Options{DontListen: true, JetStream: true, StoreDir: t.TempDir(), NoLog: true, NoSigs: true})
	if err != nil {
		t.Fatal(err)
	}
	srv.Start()
	t.Cleanup(srv.Shutdown)
	if !srv.ReadyForConnections(10 * time.Second) {
		t.Fatal("nats-server not ready after 10s")
	}
	nc, err := nats.Connect("", nats.InProcessServer(srv))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	const bucket = "sessions"
	kv, err := js.CreateKeyValue(ctx, jetstream.KeyValueConfig{Bucket: bucket, LimitMarkerTTL: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	return &kvStore{js: js, kv: kv, bucket: bucket}
}

// For returns tenant's namespace.
func (s *kvStore) For(tenant string) wasmhost.KV { return &tenantKV{s: s, prefix: tenant + "."} }

type tenantKV struct {
	s      *kvStore
	prefix string
}

var _ wasmhost.KV = (*tenantKV)(nil)

func (k *tenantKV) Get(ctx context.Context, key string) ([]byte, error) {
	e, err := k.s.kv.Get(ctx, k.prefix+key)
	if errors.Is(err, jetstream.ErrKeyNotFound) {
		return nil, fmt.Errorf("kvStore: %q: %w", key, wasmhost.ErrKeyNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("kvStore: get %q: %w", key, err)
	}
	return e.Value(), nil
}

func (k *tenantKV) Put(ctx context.Context, key string, value []byte, ttl time.Duration) error {
	if ttl <= 0 {
		_, err := k.s.kv.Put(ctx, k.prefix+key, value)
		return err
	}
	// jetstream.KeyValue.Put takes no TTL: publish to the bucket's subject.
	_, err := k.s.js.Publish(ctx, "$KV."+k.s.bucket+"."+k.prefix+key, value, jetstream.WithMsgTTL(ttl))
	return err
}

func (k *tenantKV) Create(ctx context.Context, key string, value []byte, ttl time.Duration) error {
	var opts []jetstream.KVCreateOpt
	if ttl > 0 {
		opts = append(opts, jetstream.KeyTTL(ttl))
	}
	_, err := k.s.kv.Create(ctx, k.prefix+key, value, opts...)
	if errors.Is(err, jetstream.ErrKeyExists) {
		return fmt.Errorf("kvStore: %q: %w", key, wasmhost.ErrKeyExists)
	}
	return err
}

func (k *tenantKV) Delete(ctx context.Context, key string) error {
	return k.s.kv.Delete(ctx, k.prefix+key)
}
