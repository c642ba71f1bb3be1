package wasmhost_test

import (
	"context"
	"errors"
	"testing"

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

// BenchmarkFetchKV is a hit through kv.wat: one kv_get against the
// in-process nats-server, await, result, set_session.
func BenchmarkFetchKV(b *testing.B) {
	kv := newBucket(b)
	rt := newRuntime(b)
	p := newPool(b, compileGuest(b, rt, "kv"), wasmhost.WithKV(kv))
	ctx := context.Background()
	in := fetchInput(7)
	if err := p.Store(ctx, wasmhost.StoreInput{SessionID: in.SessionID, Session: make([]byte, 200)}); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if got, err := p.Fetch(ctx, in); err != nil || len(got) != 200 {
			b.Fatal(len(got), err)
		}
	}
}

// BenchmarkDirectKVGet is the same get as BenchmarkFetchKV straight through
// jetstream, for comparison.
func BenchmarkDirectKVGet(b *testing.B) {
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
