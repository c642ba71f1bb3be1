package wasmhost_test

import (
	"context"
	"fmt"
	"os"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/tlsgate/tlsgate/gateway/natskv"
	"github.com/tlsgate/tlsgate/wasmhost"
)

// One embedded nats-server with JetStream (gateway/natskv, as the gateway
// runs it) serves the package's tests; each test gets its own bucket.
var (
	natsOnce  sync.Once
	natsSrv   *natskv.Server
	natsCli   *natskv.Client
	natsErr   error
	bucketSeq atomic.Int64
)

func TestMain(m *testing.M) {
	code := m.Run()
	ctx := context.Background()
	if natsCli != nil {
		natsCli.Close(ctx)
	}
	if natsSrv != nil {
		natsSrv.Close(ctx)
	}
	os.Exit(code)
}

func natsClient(tb testing.TB) *natskv.Client {
	tb.Helper()
	natsOnce.Do(func() {
		ctx := context.Background()
		natsSrv, natsErr = natskv.StartEmbedded(ctx)
		if natsErr != nil {
			return
		}
		natsCli, natsErr = natskv.Connect(ctx, natskv.WithInProcess(natsSrv), natskv.WithLogger(quietLogger))
	})
	if natsErr != nil {
		tb.Fatalf("embedded nats-server: %v", natsErr)
	}
	return natsCli
}

// newBucket creates a fresh tenant bucket (memory storage) for tb.
func newBucket(tb testing.TB) *natskv.Bucket {
	tb.Helper()
	return tenantBucket(tb, fmt.Sprintf("t%d", bucketSeq.Add(1)))
}

// tenantBucket is tenant's view of the sessions bucket: its keys are
// stored under "<tenant>.".
func tenantBucket(tb testing.TB, tenant string) *natskv.Bucket {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	b, err := natsClient(tb).Bucket(ctx, tenant, natskv.WithStorage("memory"))
	if err != nil {
		tb.Fatalf("bucket: %v", err)
	}
	return b
}

var (
	nearOnce sync.Once
	nearCli  *natskv.Client
	nearErr  error
)

// newNearBucket is newBucket through a client with a near cache, on the
// same embedded server.
func newNearBucket(tb testing.TB) *natskv.Bucket {
	tb.Helper()
	natsClient(tb)
	nearOnce.Do(func() {
		nearCli, nearErr = natskv.Connect(context.Background(), natskv.WithInProcess(natsSrv), natskv.WithLogger(quietLogger),
			natskv.WithNearCache(64<<20))
	})
	if nearErr != nil {
		tb.Fatal(nearErr)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	b, err := nearCli.Bucket(ctx, fmt.Sprintf("t%d", bucketSeq.Add(1)), natskv.WithStorage("memory"))
	if err != nil {
		tb.Fatalf("bucket: %v", err)
	}
	return b
}

// rawBucket opens b with the plain jetstream API, as a program without
// tlsgate would.
func rawBucket(tb testing.TB, b *natskv.Bucket) jetstream.KeyValue {
	tb.Helper()
	natsClient(tb)
	nc, err := natsSrv.InProcessConn()
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(nc.Close)
	js, err := jetstream.New(nc)
	if err != nil {
		tb.Fatal(err)
	}
	kv, err := js.KeyValue(context.Background(), b.Name())
	if err != nil {
		tb.Fatal(err)
	}
	return kv
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
	deadline := time.Now().Add(30 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			tb.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(2 * time.Millisecond)
	}
}
