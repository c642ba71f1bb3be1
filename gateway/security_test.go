package gateway

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/hex"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/tlsgate/tlsgate/gateway/config"
	"github.com/tlsgate/tlsgate/gateway/natskv"
)

// kvOf opens the shared sessions bucket (the tenant's keys are under
// natskv.KeyPrefix(tenant); see allEntries) in the gateway's embedded NATS as an
// outside client holding the gateway's key would (an attacker who stole it,
// or an operator).
func kvOf(t *testing.T, g *Gateway, tenant string) tenantKV {
	t.Helper()
	nk, err := nats.NkeyOptionFromSeed(g.snap.Load().cfg.NATS.Embedded.GatewayNkeyFile)
	if err != nil {
		t.Fatal(err)
	}
	nc, err := nats.Connect(g.NATSURL(), nk)
	if err != nil {
		t.Fatalf("connect to embedded nats: %v", err)
	}
	t.Cleanup(nc.Close)
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	kv, err := js.KeyValue(context.Background(), natskv.SessionsBucket)
	if err != nil {
		t.Fatalf("sessions bucket (for %s): %v", tenant, err)
	}
	return tenantKV{kv, tenant}
}

// tenantKV is the shared bucket as one tenant's entries are seen.
type tenantKV struct {
	jetstream.KeyValue
	tenant string
}

// allEntries returns the tenant's entries, by their key in the shared
// bucket.
func allEntries(t *testing.T, kv tenantKV) map[string][]byte {
	t.Helper()
	ctx := context.Background()
	keys, err := kv.ListKeysFiltered(ctx, natskv.KeyPrefix(kv.tenant)+">")
	if err != nil {
		t.Fatal(err)
	}
	out := map[string][]byte{}
	for k := range keys.Keys() {
		e, err := kv.Get(ctx, k)
		if err != nil {
			continue
		}
		out[k] = e.Value()
	}
	return out
}

func exposedNATS(t *testing.T, tenants ...string) *Gateway {
	var ts []config.Tenant
	for _, n := range tenants {
		ts = append(ts, cacheTenant(n, n+".test"))
	}
	ts[0].ServerNames = append(ts[0].ServerNames, "alias-"+tenants[0]+".test")
	cfg := testConfig(t, ts...)
	cfg.NATS.Embedded.Listen = "127.0.0.1:0"
	return startGateway(t, cfg)
}

func TestSessionDoesNotCrossTenants(t *testing.T) {
	g := exposedNATS(t, "a", "b")
	cache := tls.NewLRUClientSessionCache(4)
	for _, v := range []uint16{tls.VersionTLS13, tls.VersionTLS12} {
		dial(t, g.addr(), clientOpts{sni: "a.test", version: v, cache: cache})
		g.waitStores(t)
		// Offer a.test's session under b.test: Go's client caches by server
		// name, so hand it over explicitly.
		sess, ok := cache.Get("a.test")
		if !ok {
			t.Fatal("client has no session for a.test")
		}
		other := tls.NewLRUClientSessionCache(4)
		other.Put("b.test", sess)
		if got := dial(t, g.addr(), clientOpts{sni: "b.test", version: v, cache: other}); got.state.DidResume {
			t.Fatalf("%s: session of tenant a resumed under tenant b", tls.VersionName(v))
		}
	}
}

func TestSessionBoundToServerName(t *testing.T) {
	// Both names belong to tenant a, so the guest finds the session: only
	// the binding check stops it (RFC 6066 s3).
	g := exposedNATS(t, "a")
	for _, v := range []uint16{tls.VersionTLS13, tls.VersionTLS12} {
		cache := tls.NewLRUClientSessionCache(4)
		dial(t, g.addr(), clientOpts{sni: "a.test", version: v, cache: cache})
		g.waitStores(t)
		sess, _ := cache.Get("a.test")
		other := tls.NewLRUClientSessionCache(4)
		other.Put("alias-a.test", sess)
		before := counterValue(t, g, "tlsgate_resumption_attempts_total", "result", "mismatch")
		if got := dial(t, g.addr(), clientOpts{sni: "alias-a.test", version: v, cache: other}); got.state.DidResume {
			t.Fatalf("%s: session for a.test resumed under alias-a.test", tls.VersionName(v))
		}
		if after := counterValue(t, g, "tlsgate_resumption_attempts_total", "result", "mismatch"); after != before+1 {
			t.Errorf("mismatch counter went %v -> %v, want +1", before, after)
		}
	}
}

func TestTamperedBlobDoesNotResume(t *testing.T) {
	g := exposedNATS(t, "a")
	kv := kvOf(t, g, "a")
	cache := tls.NewLRUClientSessionCache(4)
	dial(t, g.addr(), clientOpts{sni: "a.test", version: tls.VersionTLS13, cache: cache})
	g.waitStores(t)
	entries := allEntries(t, kv)
	if len(entries) == 0 {
		t.Fatal("no session stored in the tenant's bucket")
	}
	for k, v := range entries {
		v = bytes.Clone(v)
		v[len(v)-1] ^= 0x01
		if _, err := kv.Put(context.Background(), k, v); err != nil {
			t.Fatal(err)
		}
	}
	waitNearCacheEmpty(t, g) // the overwrites reach the near cache a moment later
	before := counterValue(t, g, "tlsgate_resumption_attempts_total", "result", "tamper")
	if v := dial(t, g.addr(), clientOpts{sni: "a.test", version: tls.VersionTLS13, cache: cache}); v.state.DidResume {
		t.Fatal("a session whose stored blob was altered resumed")
	}
	if after := counterValue(t, g, "tlsgate_resumption_attempts_total", "result", "tamper"); after != before+1 {
		t.Errorf("tamper counter went %v -> %v, want +1", before, after)
	}
}

func TestStoreHoldsNoPlaintextSession(t *testing.T) {
	g := exposedNATS(t, "a")
	kv := kvOf(t, g, "a")
	var keyLog bytes.Buffer
	dial(t, g.addr(), clientOpts{sni: "a.test", version: tls.VersionTLS12, keyLog: &keyLog, cache: tls.NewLRUClientSessionCache(1)})
	g.waitStores(t)
	// NSS key log: "CLIENT_RANDOM <random> <master secret>".
	var master []byte
	for _, line := range strings.Split(keyLog.String(), "\n") {
		if f := strings.Fields(line); len(f) == 3 && f[0] == "CLIENT_RANDOM" {
			master, _ = hex.DecodeString(f[2])
		}
	}
	if len(master) != 48 {
		t.Fatalf("no TLS 1.2 master secret in the key log: %q", keyLog.String())
	}
	entries := allEntries(t, kv)
	if len(entries) == 0 {
		t.Fatal("no session stored")
	}
	for k, v := range entries {
		for _, secret := range [][]byte{master, bindingTag, []byte("a.test")} {
			if bytes.Contains(v, secret) {
				t.Errorf("stored value %s contains %q in clear", k, secret)
			}
		}
	}
}

func TestLifetimeIsClampedToCreation(t *testing.T) {
	// Creation times are kept in whole seconds: TTL 3 s, checks at ~1 s and
	// ~3.6 s. Without a guest nothing else expires the session, so the
	// second refusal can only come from the clamp ("expired").
	for _, withGuest := range []bool{true, false} {
		tn := cacheTenant("a", "a.test")
		tn.SessionTTL = 3 * time.Second
		if !withGuest {
			tn.Guest = nil
		}
		g := startGateway(t, testConfig(t, tn))
		o := clientOpts{sni: "a.test", version: tls.VersionTLS13, cache: tls.NewLRUClientSessionCache(1)}
		dial(t, g.addr(), o)
		g.waitStores(t)
		time.Sleep(1 * time.Second)
		if v := dial(t, g.addr(), o); !v.state.DidResume {
			t.Fatalf("guest=%v: resumption within the TTL failed", withGuest)
		}
		g.waitStores(t)
		// The re-issued ticket is fresh, but the session it stands for is
		// older than the TTL by now: it must not resume.
		time.Sleep(2600 * time.Millisecond)
		if v := dial(t, g.addr(), o); v.state.DidResume {
			t.Fatalf("guest=%v: a re-issued ticket extended the session past its TTL", withGuest)
		}
		if !withGuest {
			if n := counterValue(t, g, "tlsgate_resumption_attempts_total", "result", "expired"); n != 1 {
				t.Errorf("expired attempts = %v, want 1", n)
			}
		}
	}
}

// A ticket the client made up is refused without asking the guest: a flood
// of random tickets costs no guest call and no NATS round trip.
func TestForgedTicketCostsNoGuestCall(t *testing.T) {
	g := startGateway(t, testConfig(t, cacheTenant("a", "a.test")))
	cache := tls.NewLRUClientSessionCache(4)
	dial(t, g.addr(), clientOpts{sni: "a.test", version: tls.VersionTLS13, cache: cache})
	g.waitStores(t)
	real, _ := cache.Get("a.test")
	ticket, state, err := real.ResumptionState()
	if err != nil {
		t.Fatal(err)
	}
	forged := append([]byte(nil), ticket...)
	forged[0] ^= 0xff
	fake, err := tls.NewResumptionState(forged, state)
	if err != nil {
		t.Fatal(err)
	}
	cache.Put("a.test", fake)
	calls := counterValue(t, g, "tlsgate_guest_calls_total", "export", "tlsgate_on_session_fetch")
	if dial(t, g.addr(), clientOpts{sni: "a.test", version: tls.VersionTLS13, cache: cache}).state.DidResume {
		t.Fatal("a forged ticket resumed")
	}
	if n := counterValue(t, g, "tlsgate_guest_calls_total", "export", "tlsgate_on_session_fetch"); n != calls {
		t.Errorf("the guest was asked about a forged ticket (%v fetch calls, was %v)", n, calls)
	}
	if n := counterValue(t, g, "tlsgate_resumption_attempts_total", "result", "foreign"); n != 1 {
		t.Errorf("foreign attempts = %v, want 1", n)
	}
}
