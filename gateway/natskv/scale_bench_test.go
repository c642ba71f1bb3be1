package natskv_test

import (
	"context"
	"fmt"
	"runtime"
	"testing"
	"time"

	"github.com/tlsgate/tlsgate/gateway/natskv"
)

// What a tenant costs in the session store (one shared bucket, a key prefix
// per tenant; docs/performance.md has the measurement that chose it over a
// bucket per tenant):
//
//	go test -run XXX -bench 'Tenant' -benchtime 1000x ./gateway/natskv/
//
// BenchmarkTenantCreate makes one tenant's view per op, with a quota, and
// its first write (what a new tenant costs), and reports the heap each
// holds; BenchmarkTenantGetPut reads and writes a 500-byte session across
// 1000 tenants.

func heapNow() uint64 {
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.HeapAlloc
}

func BenchmarkTenantCreate(b *testing.B) {
	for _, storage := range []string{"memory", "file"} {
		b.Run(storage, func(b *testing.B) {
			c := benchClient(b)
			before := heapNow()
			views := make([]*natskv.Bucket, 0, b.N)
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
				views = append(views, bk)
			}
			b.StopTimer()
			b.ReportMetric(float64(heapNow()-before)/float64(b.N), "heap-B/tenant")
			runtime.KeepAlive(views)
		})
	}
}

func BenchmarkTenantGetPut(b *testing.B) {
	const tenants = 1000
	c := benchClient(b)
	ctx := context.Background()
	value := make([]byte, 500)
	var err error
	views := make([]*natskv.Bucket, tenants)
	for i := range views {
		if views[i], err = c.Bucket(ctx, fmt.Sprintf("t%d", i), natskv.WithStorage("memory"), natskv.WithQuota(64<<20, 0)); err != nil {
			b.Fatal(err)
		}
	}
	b.ResetTimer()
	for i := range b.N {
		bk, key := views[i%tenants], fmt.Sprintf("s%d", i)
		if err := bk.Put(ctx, key, value, time.Hour); err != nil {
			b.Fatal(err)
		}
		if _, err := bk.Get(ctx, key); err != nil {
			b.Fatal(err)
		}
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
