package wasmhost_test

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"testing"
	"time"

	"github.com/tlsgate/tlsgate/guests/prebuilt"
	"github.com/tlsgate/tlsgate/wasmhost"
)

// BenchmarkTrivialCall is one Fetch of a guest that returns NOT_FOUND at
// once: checkout, call context, the wazero call, return.
func BenchmarkTrivialCall(b *testing.B) {
	rt := newRuntime(b)
	p := newPool(b, compileGuest(b, rt, "trivial"), wasmhost.WithMaxInstances(4))
	ctx := context.Background()
	in := fetchInput(0)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := p.Fetch(ctx, in); !errors.Is(err, wasmhost.ErrMiss) {
			b.Fatal(err)
		}
	}
}

// BenchmarkTrivialCallParallel is BenchmarkTrivialCall from GOMAXPROCS
// goroutines sharing one pool.
func BenchmarkTrivialCallParallel(b *testing.B) {
	rt := newRuntime(b)
	p := newPool(b, compileGuest(b, rt, "trivial"))
	ctx := context.Background()
	in := fetchInput(0)
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, err := p.Fetch(ctx, in); !errors.Is(err, wasmhost.ErrMiss) {
				b.Error(err)
				return
			}
		}
	})
}

// The issue-2 comparison, one run side by side (go test -bench 'KV|Guest'
// -run '^$' ./wasmhost/): the same 200-byte get, straight through
// jetstream, through natskv, and by a guest through the host.

// BenchmarkDirectKVGet is a get straight through jetstream's KeyValue, as a
// program without tlsgate would do it: the floor.
func BenchmarkDirectKVGet(b *testing.B) {
	bucket := newBucket(b)
	kv := rawBucket(b, bucket)
	ctx := context.Background()
	const key = "BwgJCgsMDQ4PEBESExQVFhcYGRobHB0eHyAhIiMkJSY"
	if _, err := kv.Put(ctx, key, make([]byte, 200)); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if e, err := kv.Get(ctx, key); err != nil || len(e.Value()) != 200 {
			b.Fatal(err)
		}
	}
}

// BenchmarkDirectKVGetSession is DirectKVGet of an entry written as a
// session store writes it (natskv.Bucket.Put: the tenant's key prefix and a
// per-key TTL, which the server returns as a header the client parses):
// the floor for BucketGet and the guests' fetches, which read such entries.
func BenchmarkDirectKVGetSession(b *testing.B) {
	tenant := fmt.Sprintf("t%d", bucketSeq.Add(1))
	bucket := tenantBucket(b, tenant)
	kv := rawBucket(b, bucket)
	ctx := context.Background()
	const key = "BwgJCgsMDQ4PEBESExQVFhcYGRobHB0eHyAhIiMkJSY"
	if err := bucket.Put(ctx, key, make([]byte, 200), time.Hour); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if e, err := kv.Get(ctx, tenant+"."+key); err != nil || len(e.Value()) != 200 {
			b.Fatal(err)
		}
	}
}

// BenchmarkBucketGet is the same get through natskv.Bucket, the KV the host
// hands guests (error mapping, lazy binding).
func BenchmarkBucketGet(b *testing.B) {
	kv := newBucket(b)
	ctx := context.Background()
	const key = "BwgJCgsMDQ4PEBESExQVFhcYGRobHB0eHyAhIiMkJSY"
	if err := kv.Put(ctx, key, make([]byte, 200), 0); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if v, err := kv.Get(ctx, key); err != nil || len(v) != 200 {
			b.Fatal(len(v), err)
		}
	}
}

// BenchmarkBucketGetNearCache is BenchmarkBucketGet for a key this
// client wrote, answered by its near cache.
func BenchmarkBucketGetNearCache(b *testing.B) {
	kv := newNearBucket(b)
	ctx := context.Background()
	const key = "BwgJCgsMDQ4PEBESExQVFhcYGRobHB0eHyAhIiMkJSY"
	if err := kv.Put(ctx, key, make([]byte, 200), time.Hour); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if v, err := kv.Get(ctx, key); err != nil || len(v) != 200 {
			b.Fatal(len(v), err)
		}
	}
}

// BenchmarkFetchGoGuestNearCache is BenchmarkFetchGoGuest for a session
// this gateway stored: the guest's kv_get is answered by the near cache.
func BenchmarkFetchGoGuestNearCache(b *testing.B) {
	m := compileBytes(b, newRuntime(b), "sessioncache.wasm", prebuilt.SessionCache)
	benchFetchKV(b, m, newNearBucket(b))
}

// BenchmarkFetchKV is a hit through kv.wat: one kv_get against the
// in-process nats-server, await, result, set_session.
func BenchmarkFetchKV(b *testing.B) {
	benchFetch(b, compileGuest(b, newRuntime(b), "kv"))
}

// BenchmarkFetchGoGuest is the same hit through the Go reference guest
// (guests/sessioncache, standard Go toolchain, the SDK's blocking Get).
func BenchmarkFetchGoGuest(b *testing.B) {
	benchFetch(b, compileBytes(b, newRuntime(b), "sessioncache.wasm", prebuilt.SessionCache))
}

// BenchmarkFetchASGuest is the same hit through the AssemblyScript
// reference guest (guests/assemblyscript/sessioncache, the SDK's kv.get).
func BenchmarkFetchASGuest(b *testing.B) {
	benchFetch(b, compileBytes(b, newRuntime(b), "sessioncache-as.wasm", prebuilt.SessionCacheAS))
}

// BenchmarkFetchASGuestNearCache is BenchmarkFetchASGuest from the near cache.
func BenchmarkFetchASGuestNearCache(b *testing.B) {
	m := compileBytes(b, newRuntime(b), "sessioncache-as.wasm", prebuilt.SessionCacheAS)
	benchFetchKV(b, m, newNearBucket(b))
}

func benchFetch(b *testing.B, m *wasmhost.Module) { benchFetchKV(b, m, newBucket(b)) }

// sessionGuests are the session caches compared side by side: the
// hand-written WAT guest, the AssemblyScript and the Go reference guests.
func sessionGuests(b *testing.B) []struct {
	name string
	wasm []byte
} {
	return []struct {
		name string
		wasm []byte
	}{
		{"wat", guestWasm(b, "kv")},
		{"assemblyscript", prebuilt.SessionCacheAS},
		{"go", prebuilt.SessionCache},
	}
}

// BenchmarkCompile compiles each session guest cold (a new runtime, no
// compilation cache) and reports its size.
func BenchmarkCompile(b *testing.B) {
	ctx := context.Background()
	for _, g := range sessionGuests(b) {
		b.Run(g.name, func(b *testing.B) {
			for b.Loop() {
				rt, err := wasmhost.NewRuntime(ctx, wasmhost.WithLogger(quietLogger))
				if err != nil {
					b.Fatal(err)
				}
				if _, err := rt.Compile(ctx, g.name+".wasm", g.wasm); err != nil {
					b.Fatal(err)
				}
				rt.Close(ctx)
			}
			b.ReportMetric(float64(len(g.wasm)), "bytes")
		})
	}
}

// BenchmarkInstantiate creates one instance of each session guest
// (instantiate, its initialiser, tlsgate_on_init) and closes it, and reports
// the host memory each live instance holds.
func BenchmarkInstantiate(b *testing.B) {
	for _, g := range sessionGuests(b) {
		b.Run(g.name, func(b *testing.B) {
			benchInstantiate(b, compileBytes(b, newRuntime(b), g.name+".wasm", g.wasm))
		})
	}
}

func benchFetchKV(b *testing.B, m *wasmhost.Module, kv wasmhost.KV) {
	p := newPool(b, m, wasmhost.WithKV(kv), wasmhost.WithCallTimeout(time.Second))
	ctx := context.Background()
	in := fetchInput(7)
	if err := p.Store(ctx, wasmhost.StoreInput{SessionID: in.SessionID, Session: make([]byte, 200), TTL: time.Hour}); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if got, err := p.Fetch(ctx, in); err != nil || len(got) != 200 {
			b.Fatal(len(got), err)
		}
	}
}

func benchInstantiate(b *testing.B, m *wasmhost.Module) {
	ctx := context.Background()
	var before, after runtime.MemStats
	const live = 8
	runtime.GC()
	runtime.ReadMemStats(&before)
	var pools []*wasmhost.Pool
	for range live {
		p, err := wasmhost.NewPool(ctx, m, wasmhost.WithPoolLogger(quietLogger))
		if err != nil {
			b.Fatal(err)
		}
		pools = append(pools, p)
	}
	runtime.GC()
	runtime.ReadMemStats(&after)
	for _, p := range pools {
		p.Close(ctx)
	}
	for b.Loop() {
		p, err := wasmhost.NewPool(ctx, m, wasmhost.WithPoolLogger(quietLogger))
		if err != nil {
			b.Fatal(err)
		}
		p.Close(ctx)
	}
	b.ReportMetric(float64(after.HeapInuse-before.HeapInuse)/live/(1<<20), "MiB/instance")
}

// BenchmarkBucketPut is one 300-byte put through natskv.Bucket with a
// per-key TTL, as a session store writes it: publish, the server's store
// of it (in-process), the acknowledgement.
func BenchmarkBucketPut(b *testing.B) {
	kv := newBucket(b)
	ctx := context.Background()
	v := make([]byte, 300)
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		i++
		if err := kv.Put(ctx, fmt.Sprintf("k%d", i), v, time.Hour); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkStoreGoGuest is the same put made by the Go reference guest's
// store export: the whole cost of one session store but the sealing.
func BenchmarkStoreGoGuest(b *testing.B) {
	m := compileBytes(b, newRuntime(b), "sessioncache.wasm", prebuilt.SessionCache)
	p := newPool(b, m, wasmhost.WithKV(newBucket(b)), wasmhost.WithCallTimeout(time.Second))
	ctx := context.Background()
	in := wasmhost.StoreInput{SessionID: make([]byte, 32), Session: make([]byte, 300), TTL: time.Hour}
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		i++
		in.SessionID[0], in.SessionID[1], in.SessionID[2] = byte(i), byte(i>>8), byte(i>>16)
		if err := p.Store(ctx, in); err != nil {
			b.Fatal(err)
		}
	}
}
