package wasmhosttest

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/tlsgate/tlsgate/abi"
	"github.com/tlsgate/tlsgate/wasmhost"
)

// GuestOption adjusts TestGuest.
type GuestOption func(*guestConfig)

type guestConfig struct {
	ttl     bool
	calls   int
	config  []byte
	timeout time.Duration
}

// WithTTLCheck makes TestGuest check that the guest honours abi.InputTTL:
// a session stored with a 1 s TTL must become a miss (the kit polls it for
// up to 30 s: the KV expires keys on its own timer, late on a loaded
// machine). It needs a KV with per-key expiry. Defaults to off: a guest may
// keep sessions longer.
func WithTTLCheck() GuestOption { return func(c *guestConfig) { c.ttl = true } }

// WithSequentialCalls sets how many store-then-fetch rounds the endurance
// check makes on one loaded guest. Defaults to 100.
func WithSequentialCalls(n int) GuestOption { return func(c *guestConfig) { c.calls = n } }

// WithGuestConfig sets the guest configuration (abi.InputGuestConfig) every
// load receives. Defaults to none.
func WithGuestConfig(b []byte) GuestOption { return func(c *guestConfig) { c.config = b } }

// WithCallTimeout bounds each Load, Fetch and Store the kit makes.
// Defaults to 30 s, which no busy machine misses.
func WithCallTimeout(d time.Duration) GuestOption { return func(c *guestConfig) { c.timeout = d } }

// TestGuest checks a session-cache guest on h: a session stored is fetched
// back byte for byte (1 byte to abi.MaxSessionLen, identifiers of 1 to 32
// bytes), an unknown identifier misses, a second tenant neither sees nor
// overwrites the first tenant's sessions, the guest survives many
// sequential calls on one pool, and, when the Guest implements KVOpCounter,
// it abandons no KV operation. With WithTTLCheck it also checks expiry.
func TestGuest(t *testing.T, h Host, wasm []byte, opts ...GuestOption) {
	t.Helper()
	c := guestConfig{calls: 100, timeout: 30 * time.Second}
	for _, o := range opts {
		o(&c)
	}
	k := &kit{t: t, h: h, timeout: c.timeout}
	load := func(t *testing.T, tenant string) Guest {
		return k.load(t, GuestSpec{Name: "guest-under-test", Tenant: tenant, Wasm: wasm, Config: c.config})
	}

	t.Run("store then fetch returns the same bytes", func(t *testing.T) {
		g := load(t, uniqueTenant("roundtrip"))
		for _, tc := range []struct {
			name      string
			idLen     int
			size      int
			mechanism abi.Mechanism
			version   uint16
		}{
			{name: "TLS 1.3 PSK, small session", idLen: 32, size: 1, mechanism: abi.MechanismTLS13PSK, version: 0x0304},
			{name: "TLS 1.2 ticket, typical session", idLen: 32, size: 300, mechanism: abi.MechanismTLS12Ticket, version: 0x0303},
			{name: "TLS 1.2 session ID of 1 byte", idLen: 1, size: 300, mechanism: abi.MechanismTLS12ID, version: 0x0303},
			{name: "TLS 1.2 session ID of 32 bytes", idLen: 32, size: 300, mechanism: abi.MechanismTLS12ID, version: 0x0303},
			{name: "largest session", idLen: 32, size: abi.MaxSessionLen, mechanism: abi.MechanismTLS13PSK, version: 0x0304},
		} {
			t.Run(tc.name, func(t *testing.T) {
				id, sess := randomBytes(tc.idLen), randomBytes(tc.size)
				st := storeInput(id, sess, time.Hour)
				st.Mechanism, st.TLSVersion = tc.mechanism, tc.version
				if err := k.store(g, st); err != nil {
					t.Fatalf("store: %v", err)
				}
				fi := fetchInput(id)
				fi.Mechanism, fi.TLSVersion = tc.mechanism, tc.version
				got, err := k.fetch(g, fi)
				if err != nil {
					t.Fatalf("fetch after store: %v, want a hit", err)
				}
				if !bytes.Equal(got, sess) {
					t.Fatalf("fetch after store returned %d bytes that differ from the %d stored", len(got), len(sess))
				}
			})
		}
	})

	t.Run("unknown identifier misses", func(t *testing.T) {
		g := load(t, uniqueTenant("miss"))
		for i := range 3 {
			if got, err := k.fetch(g, fetchInput(randomBytes(32))); !errors.Is(err, wasmhost.ErrMiss) {
				t.Fatalf("fetch %d of an unknown identifier: (%d bytes, %v), want wasmhost.ErrMiss", i, len(got), err)
			}
		}
	})

	t.Run("tenants do not share sessions", func(t *testing.T) {
		a, b := load(t, uniqueTenant("alpha")), load(t, uniqueTenant("beta"))
		id, sessA, sessB := randomBytes(32), []byte("session of tenant alpha"), []byte("session of tenant beta")
		if err := k.store(a, storeInput(id, sessA, time.Hour)); err != nil {
			t.Fatalf("alpha store: %v", err)
		}
		if got, err := k.fetch(b, fetchInput(id)); !errors.Is(err, wasmhost.ErrMiss) {
			t.Fatalf("beta fetched alpha's identifier: (%q, %v), want wasmhost.ErrMiss", got, err)
		}
		if err := k.store(b, storeInput(id, sessB, time.Hour)); err != nil {
			t.Fatalf("beta store: %v", err)
		}
		for _, tc := range []struct {
			name string
			g    Guest
			want []byte
		}{
			{name: "alpha keeps its session", g: a, want: sessA},
			{name: "beta reads its own session", g: b, want: sessB},
		} {
			got, err := k.fetch(tc.g, fetchInput(id))
			if err != nil || !bytes.Equal(got, tc.want) {
				t.Errorf("%s: fetch = (%q, %v), want %q", tc.name, got, err, tc.want)
			}
		}
	})

	t.Run("survives sequential calls", func(t *testing.T) {
		g := load(t, uniqueTenant("endurance"))
		for i := range c.calls {
			id, sess := randomBytes(32), randomBytes(200)
			if err := k.store(g, storeInput(id, sess, time.Hour)); err != nil {
				t.Fatalf("round %d store: %v", i, err)
			}
			if got, err := k.fetch(g, fetchInput(id)); err != nil || !bytes.Equal(got, sess) {
				t.Fatalf("round %d fetch: (%d bytes, %v), want the %d bytes stored", i, len(got), err, len(sess))
			}
		}
	})

	t.Run("awaits every KV operation it starts", func(t *testing.T) {
		g := load(t, uniqueTenant("handles"))
		counter, ok := g.(KVOpCounter)
		if !ok {
			t.Skip("the host's Guest does not implement wasmhosttest.KVOpCounter")
		}
		for i := range 10 {
			id := randomBytes(32)
			if err := k.store(g, storeInput(id, []byte("session"), time.Hour)); err != nil {
				t.Fatalf("round %d store: %v", i, err)
			}
			if _, err := k.fetch(g, fetchInput(id)); err != nil {
				t.Fatalf("round %d fetch: %v", i, err)
			}
		}
		// Operations report their end asynchronously: wait until the count
		// has settled (some reported, then unchanged for settleFor), at most
		// settleLimit.
		completed, abandoned := counter.KVOps()
		for since, limit := time.Now(), time.Now().Add(settleLimit); (completed == 0 || time.Since(since) < settleFor) && time.Now().Before(limit); {
			time.Sleep(10 * time.Millisecond)
			if c, a := counter.KVOps(); c != completed || a != abandoned {
				completed, abandoned, since = c, a, time.Now()
			}
		}
		if completed == 0 {
			t.Errorf("10 stores and fetches completed no KV operation")
		}
		if abandoned > 0 {
			t.Errorf("%d of %d KV operations were abandoned: released or left live while pending", abandoned, completed)
		}
	})

	if c.ttl {
		t.Run("honours the TTL", func(t *testing.T) {
			g := load(t, uniqueTenant("ttl"))
			id := randomBytes(32)
			if err := k.store(g, storeInput(id, []byte("short-lived"), time.Second)); err != nil {
				t.Fatalf("store with a 1s TTL: %v", err)
			}
			deadline := time.Now().Add(ttlWait)
			for {
				_, err := k.fetch(g, fetchInput(id))
				if errors.Is(err, wasmhost.ErrMiss) {
					return
				}
				if err != nil {
					t.Fatalf("fetch while waiting for expiry: %v", err)
				}
				if time.Now().After(deadline) {
					t.Fatalf("session stored with a 1s TTL still a hit after %v", ttlWait)
				}
				time.Sleep(250 * time.Millisecond)
			}
		})
	}
}

// The kit's waits on what happens in the background. They end as soon as
// the awaited thing is seen, so a generous limit costs a passing run
// nothing; it only keeps a loaded machine from failing a sound guest.
const (
	// ttlWait bounds the wait for a session stored with a 1 s TTL to expire.
	ttlWait = 30 * time.Second
	// settleFor is how long the KV operation counts must stay unchanged to
	// count as settled; settleLimit bounds the whole wait.
	settleFor   = 250 * time.Millisecond
	settleLimit = 30 * time.Second
)

// kit holds what every check needs.
type kit struct {
	t       *testing.T
	h       Host
	timeout time.Duration
}

// load loads spec and closes it when t ends; it fails t on a load error.
func (k *kit) load(t *testing.T, spec GuestSpec) Guest {
	t.Helper()
	g, err := k.tryLoad(spec)
	if err != nil {
		t.Fatalf("load %s for tenant %q: %v", spec.Name, spec.Tenant, err)
	}
	return g
}

// tryLoad loads spec and, on success, registers its Close with the test.
func (k *kit) tryLoad(spec GuestSpec) (Guest, error) {
	ctx, cancel := context.WithTimeout(context.Background(), k.timeout)
	defer cancel()
	g, err := k.h.Load(ctx, spec)
	if err != nil {
		return nil, err
	}
	k.t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), k.timeout)
		defer cancel()
		if err := g.Close(ctx); err != nil {
			k.t.Errorf("close %s: %v", spec.Name, err)
		}
	})
	return g, nil
}

func (k *kit) fetch(g Guest, in wasmhost.FetchInput) ([]byte, error) {
	ctx, cancel := context.WithTimeout(context.Background(), k.timeout)
	defer cancel()
	return g.Fetch(ctx, in)
}

func (k *kit) store(g Guest, in wasmhost.StoreInput) error {
	ctx, cancel := context.WithTimeout(context.Background(), k.timeout)
	defer cancel()
	return g.Store(ctx, in)
}

func fetchInput(id []byte) wasmhost.FetchInput {
	return wasmhost.FetchInput{
		SessionID:  id,
		ServerName: "kit.test",
		ALPN:       "h2",
		ClientAddr: "127.0.0.1:50000",
		TLSVersion: 0x0304,
		Mechanism:  abi.MechanismTLS13PSK,
	}
}

func storeInput(id, sess []byte, ttl time.Duration) wasmhost.StoreInput {
	return wasmhost.StoreInput{
		SessionID:  id,
		Session:    sess,
		TTL:        ttl,
		Created:    time.Now(),
		ServerName: "kit.test",
		ALPN:       "h2",
		ClientAddr: "127.0.0.1:50000",
		TLSVersion: 0x0304,
		Mechanism:  abi.MechanismTLS13PSK,
	}
}

func randomBytes(n int) []byte {
	b := make([]byte, n)
	rand.Read(b)
	return b
}

// uniqueTenant returns a tenant name no earlier run used, so a KV that
// outlives the test (a shared NATS) holds no sessions from before.
func uniqueTenant(prefix string) string {
	return fmt.Sprintf("kit-%s-%x", prefix, randomBytes(4))
}
