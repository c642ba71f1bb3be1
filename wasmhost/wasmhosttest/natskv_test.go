package wasmhosttest_test

import (
	"context"
	"log/slog"
	"sync"
	"testing"

	"github.com/tlsgate/tlsgate/gateway/natskv"
	"github.com/tlsgate/tlsgate/wasmhost"
)

// kvStore is the gateway's KV: a real embedded nats-server with JetStream,
// an in-process client and one bucket per tenant (gateway/natskv).
type kvStore struct {
	client *natskv.Client

	mu      sync.Mutex
	buckets map[string]*natskv.Bucket
}

func newKVStore(t testing.TB) *kvStore {
	t.Helper()
	ctx := context.Background()
	srv, err := natskv.StartEmbedded(ctx, natskv.WithDataDir(t.TempDir()), natskv.WithServerLogger(slog.New(slog.DiscardHandler)))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := srv.Close(ctx); err != nil {
			t.Errorf("close nats-server: %v", err)
		}
	})
	client, err := natskv.Connect(ctx, natskv.WithInProcess(srv), natskv.WithLogger(slog.New(slog.DiscardHandler)))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := client.Close(ctx); err != nil {
			t.Errorf("close nats client: %v", err)
		}
	})
	return &kvStore{client: client, buckets: make(map[string]*natskv.Bucket)}
}

// For returns tenant's bucket, created once.
func (s *kvStore) For(ctx context.Context, tenant string) (wasmhost.KV, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if b, ok := s.buckets[tenant]; ok {
		return b, nil
	}
	b, err := s.client.Bucket(ctx, tenant)
	if err != nil {
		return nil, err
	}
	s.buckets[tenant] = b
	return b, nil
}
