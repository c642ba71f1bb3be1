package wasmhost_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/tlsgate/tlsgate/wasmhost"
)

// One in-process nats-server with JetStream serves the package's tests; each
// test gets its own bucket.
var (
	natsOnce  sync.Once
	natsSrv   *server.Server
	natsConn  *nats.Conn
	natsJS    jetstream.JetStream
	natsErr   error
	natsDir   string
	bucketSeq atomic.Int64
)

func TestMain(m *testing.M) {
	code := m.Run()
	if natsConn != nil {
		natsConn.Close()
	}
	if natsSrv != nil {
		natsSrv.Shutdown()
		natsSrv.WaitForShutdown()
	}
	if natsDir != "" {
		os.RemoveAll(natsDir)
	}
	os.Exit(code)
}

func jetStream(tb testing.TB) jetstream.JetStream {
	tb.Helper()
	natsOnce.Do(func() {
		natsDir, natsErr = os.MkdirTemp("", "wasmhost-nats-")
		if natsErr != nil {
			return
		}
		natsSrv, natsErr = server.NewServer(&server.Options{DontListen: true, JetStream: true, StoreDir: natsDir, NoLog: true, NoSigs: true})
		if natsErr != nil {
			return
		}
		go natsSrv.Start()
		if !natsSrv.ReadyForConnections(10 * time.Second) {
			natsErr = errors.New("nats-server not ready after 10s")
			return
		}
		natsConn, natsErr = nats.Connect(natsSrv.ClientURL(), nats.InProcessServer(natsSrv))
		if natsErr != nil {
			return
		}
		natsJS, natsErr = jetstream.New(natsConn)
	})
	if natsErr != nil {
		tb.Fatalf("in-process nats-server: %v", natsErr)
	}
	return natsJS
}

// newBucket creates a fresh KV bucket for tb.
func newBucket(tb testing.TB) *jsKV {
	tb.Helper()
	js := jetStream(tb)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	name := fmt.Sprintf("t%d", bucketSeq.Add(1))
	kv, err := js.CreateKeyValue(ctx, jetstream.KeyValueConfig{Bucket: name})
	if err != nil {
		tb.Fatalf("create bucket: %v", err)
	}
	tb.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = js.DeleteKeyValue(ctx, name)
	})
	return &jsKV{kv: kv}
}

// jsKV is a minimal wasmhost.KV over a JetStream bucket (ttl ignored).
type jsKV struct{ kv jetstream.KeyValue }

var _ wasmhost.KV = (*jsKV)(nil)

func (k *jsKV) Get(ctx context.Context, key string) ([]byte, error) {
	e, err := k.kv.Get(ctx, key)
	if errors.Is(err, jetstream.ErrKeyNotFound) {
		return nil, fmt.Errorf("get %q: %w", key, wasmhost.ErrKeyNotFound)
	}
	if err != nil {
		return nil, err
	}
	return e.Value(), nil
}

func (k *jsKV) Put(ctx context.Context, key string, value []byte, _ time.Duration) error {
	_, err := k.kv.Put(ctx, key, value)
	return err
}

func (k *jsKV) Create(ctx context.Context, key string, value []byte, _ time.Duration) error {
	_, err := k.kv.Create(ctx, key, value)
	if errors.Is(err, jetstream.ErrKeyExists) {
		return fmt.Errorf("create %q: %w", key, wasmhost.ErrKeyExists)
	}
	return err
}

func (k *jsKV) Delete(ctx context.Context, key string) error {
	return k.kv.Delete(ctx, key)
}

// slowKey is the KV key (as the host encodes it) of the guest key "slow".
const slowKey = "c2xvdw"

// slowKV wraps a KV: Get of the guest key "slow" blocks until its context
// ends, and counts those cancellations.
type slowKV struct {
	wasmhost.KV
	cancelled atomic.Int64
	seenKeys  sync.Map
}

func (k *slowKV) Get(ctx context.Context, key string) ([]byte, error) {
	k.seenKeys.Store(key, true)
	if key == slowKey {
		<-ctx.Done()
		k.cancelled.Add(1)
		return nil, ctx.Err()
	}
	return k.KV.Get(ctx, key)
}

// waitFor polls cond for up to 5s.
func waitFor(tb testing.TB, what string, cond func() bool) {
	tb.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			tb.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(2 * time.Millisecond)
	}
}
