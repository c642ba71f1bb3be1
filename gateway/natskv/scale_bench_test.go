package natskv_test

import (
	"context"
	"fmt"
	"runtime"
	"testing"
	"time"

	"github.com/tlsgate/tlsgate/gateway/natskv"
)

// The measurements behind issue 9's choice between one KV bucket per
// tenant (today) and one shared bucket with per-tenant key prefixes:
//
//	go test -run XXX -bench 'Tenant' -benchtime 1000x ./gateway/natskv/
//
// BenchmarkTenantBucketCreate creates one bucket per op (what a new tenant
// costs at start) and reports the heap each holds; BenchmarkTenantGetPut
// reads and writes a 500-byte session across 1000 tenants, in a bucket each
// or in one shared bucket.

func heapNow() uint64 {
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.HeapAlloc
}

func BenchmarkTenantBucketCreate(b *testing.B) {
	for _, storage := range []string{"memory", "file"} {
		b.Run(storage, func(b *testing.B) {
			c := benchClient(b)
			before := heapNow()
			b.ResetTimer()
			for i := range b.N {
				ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
				bk, err := c.Bucket(ctx, fmt.Sprintf("t%d", i), natskv.WithStorage(storage), natskv.WithQuota(1<<20, 1000))
				if err == nil {
					err = bk.Put(ctx, "k", []byte("v"), 0) // bound for real
				}
				cancel()
				if err != nil {
					b.Fatal(err)
				}
			}
			b.StopTimer()
			b.ReportMetric(float64(heapNow()-before)/float64(b.N), "heap-B/bucket")
		})
	}
}

func BenchmarkTenantGetPut(b *testing.B) {
	const tenants = 1000
	c := benchClient(b)
	ctx := context.Background()
	value := make([]byte, 500)
	var err error
	perTenant := make([]*natskv.Bucket, tenants)
	for i := range perTenant {
		if perTenant[i], err = c.Bucket(ctx, fmt.Sprintf("t%d", i), natskv.WithStorage("memory")); err != nil {
			b.Fatal(err)
		}
	}
	shared, err := c.Bucket(ctx, "shared", natskv.WithStorage("memory"))
	if err != nil {
		b.Fatal(err)
	}
	for _, layout := range []string{"bucket-per-tenant", "shared-bucket"} {
		b.Run(layout, func(b *testing.B) {
			for i := range b.N {
				t := i % tenants
				bk, key := perTenant[t], fmt.Sprintf("s%d", i)
				if layout == "shared-bucket" {
					bk, key = shared, fmt.Sprintf("t%d.s%d", t, i)
				}
				if err := bk.Put(ctx, key, value, time.Hour); err != nil {
					b.Fatal(err)
				}
				if _, err := bk.Get(ctx, key); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// benchClient is a client of a new embedded server, both closed when the
// benchmark ends.
func benchClient(b *testing.B) *natskv.Client {
	b.Helper()
	s, err := natskv.StartEmbedded(context.Background(), natskv.WithDataDir(b.TempDir()))
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { s.Close(context.Background()) })
	c, err := natskv.Connect(context.Background(), natskv.WithInProcess(s), natskv.WithLogger(quiet))
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { c.Close(context.Background()) })
	return c
}
