package natskv_test

import (
	"bytes"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/tlsgate/tlsgate/gateway/natskv"
	"github.com/tlsgate/tlsgate/wasmhost"
)

// Two gateways with near caches on one NATS: what one writes it reads from
// memory; a delete (or an overwrite) by the other reaches its cache; an
// expired entry is never served; and a flood of distinct keys keeps the
// cache within its bound.
func TestNearCache(t *testing.T) {
	admit, _, deployerSeed := users(t)
	s := startServer(t, append(admit, natskv.WithClientListen("127.0.0.1:0"))...)
	const bound = 256 << 10
	a := connect(t, natskv.WithURL(s.ClientURL()), natskv.WithNkeySeedFile(deployerSeed), natskv.WithNearCache(bound))
	b := connect(t, natskv.WithURL(s.ClientURL()), natskv.WithNkeySeedFile(deployerSeed), natskv.WithNearCache(bound))
	eventually(t, time.Minute, "connected", func() error {
		if !a.Connected() || !b.Connected() {
			return errors.New("not connected")
		}
		return nil
	})
	onA, onB := bucket(t, a, "shop"), bucket(t, b, "shop")
	eventually(t, time.Minute, "bound", func() error { return onA.Put(opCtx(t), "warmup", []byte("x"), time.Minute) })
	eventually(t, time.Minute, "bound", func() error { return onB.Put(opCtx(t), "warmup", []byte("x"), time.Minute) })

	t.Run("a write is read back from memory", func(t *testing.T) {
		if err := onA.Put(opCtx(t), "s1", []byte("sealed 1"), time.Hour); err != nil {
			t.Fatal(err)
		}
		before := a.NearCacheStats().Hits
		if v, err := onA.Get(opCtx(t), "s1"); err != nil || string(v) != "sealed 1" {
			t.Fatalf("Get = %q, %v", v, err)
		}
		if a.NearCacheStats().Hits != before+1 {
			t.Error("the get did not come from the near cache")
		}
		if v, err := onB.Get(opCtx(t), "s1"); err != nil || string(v) != "sealed 1" {
			t.Fatalf("the other gateway's Get = %q, %v", v, err)
		}
	})
	t.Run("a delete by another gateway reaches the cache", func(t *testing.T) {
		if err := onA.Put(opCtx(t), "s2", []byte("sealed 2"), time.Hour); err != nil {
			t.Fatal(err)
		}
		if err := onB.Delete(opCtx(t), "s2"); err != nil {
			t.Fatal(err)
		}
		eventually(t, time.Minute, "the deleted key misses on the gateway that wrote it", func() error {
			if v, err := onA.Get(opCtx(t), "s2"); !errors.Is(err, wasmhost.ErrKeyNotFound) {
				return fmt.Errorf("Get = %q, %v", v, err)
			}
			return nil
		})
	})
	t.Run("an overwrite by another gateway reaches the cache", func(t *testing.T) {
		if err := onA.Put(opCtx(t), "s3", []byte("old"), time.Hour); err != nil {
			t.Fatal(err)
		}
		if err := onB.Put(opCtx(t), "s3", []byte("new"), time.Hour); err != nil {
			t.Fatal(err)
		}
		eventually(t, time.Minute, "the overwritten key reads the new value", func() error {
			if v, err := onA.Get(opCtx(t), "s3"); err != nil || string(v) != "new" {
				return fmt.Errorf("Get = %q, %v", v, err)
			}
			return nil
		})
	})
	t.Run("an expired entry is never served", func(t *testing.T) {
		if err := onA.Put(opCtx(t), "short", []byte("sealed"), time.Second); err != nil {
			t.Fatal(err)
		}
		time.Sleep(1100 * time.Millisecond)
		if v, err := onA.Get(opCtx(t), "short"); !errors.Is(err, wasmhost.ErrKeyNotFound) {
			t.Fatalf("Get after its TTL = %q, %v, want ErrKeyNotFound", v, err)
		}
	})
	t.Run("a flood of distinct keys stays within the bound", func(t *testing.T) {
		value := bytes.Repeat([]byte("v"), 1000)
		for i := range 2000 {
			if err := onA.Put(opCtx(t), fmt.Sprintf("flood%d", i), value, time.Hour); err != nil {
				t.Fatal(err)
			}
		}
		st := a.NearCacheStats()
		if st.Bytes > bound || st.Evictions == 0 {
			t.Errorf("after 2 MB of distinct keys: %+v, want at most %d bytes and evictions", st, bound)
		}
		if v, err := onA.Get(opCtx(t), "flood0"); err != nil || len(v) != 1000 {
			t.Errorf("an evicted key from NATS: %d bytes, %v", len(v), err)
		}
	})
	t.Run("tenants do not share entries", func(t *testing.T) {
		other := bucket(t, a, "blog")
		if _, err := other.Get(opCtx(t), "s1"); !errors.Is(err, wasmhost.ErrKeyNotFound) {
			t.Errorf("another tenant reads shop's cached key: %v", err)
		}
	})
}
