package gateway

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/tls"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/tlsgate/tlsgate/gateway/config"
	"github.com/tlsgate/tlsgate/wasmhost"
)

func TestResumptionThroughReferenceGuest(t *testing.T) {
	g := startGateway(t, testConfig(t, cacheTenant("a", "a.test")))
	tests := []struct {
		name    string
		version uint16
		alpn    []string
	}{
		{"TLS 1.3 PSK", tls.VersionTLS13, nil},
		{"TLS 1.2 ticket", tls.VersionTLS12, nil},
		{"TLS 1.3 PSK with h2", tls.VersionTLS13, []string{"h2"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			first, second := resumeOnce(t, g, g.addr(), clientOpts{sni: "a.test", version: tt.version, alpn: tt.alpn})
			if first.state.Version != tt.version {
				t.Fatalf("negotiated %s", tls.VersionName(first.state.Version))
			}
			if !second.state.DidResume {
				t.Fatal("second connection did not resume")
			}
			if !contains(second.body, "session resumed: yes") && tt.alpn == nil {
				t.Errorf("built-in page does not say the session resumed:\n%s", second.body)
			}
		})
	}
}

// A resumed TLS 1.3 session gets a fresh ticket; it must resume too, and
// keep the original creation time (checked in TestLifetimeIsClampedToCreation).
func TestReissuedTicketResumes(t *testing.T) {
	g := startGateway(t, testConfig(t, cacheTenant("a", "a.test")))
	o := clientOpts{sni: "a.test", version: tls.VersionTLS13, cache: tls.NewLRUClientSessionCache(1)}
	dial(t, g.addr(), o)
	for i := range 3 {
		g.waitStores(t)
		if v := dial(t, g.addr(), o); !v.state.DidResume {
			t.Fatalf("resumption %d did not resume", i+1)
		}
	}
}

func TestStatelessTenantResumes(t *testing.T) {
	tn := cacheTenant("plain", "plain.test")
	tn.Guest = nil
	g := startGateway(t, testConfig(t, tn))
	for _, v := range []uint16{tls.VersionTLS12, tls.VersionTLS13} {
		_, second := resumeOnce(t, g, g.addr(), clientOpts{sni: "plain.test", version: v})
		if !second.state.DidResume {
			t.Errorf("%s: stateless ticket did not resume", tls.VersionName(v))
		}
	}
}

func TestNoSNIUsesDefaultTenant(t *testing.T) {
	tn := cacheTenant("d", "d.test")
	tn.Default = true
	g := startGateway(t, testConfig(t, tn))
	_, second := resumeOnce(t, g, g.addr(), clientOpts{version: tls.VersionTLS13})
	if !second.state.DidResume || !contains(second.body, `tenant:          d`) {
		t.Fatalf("no-SNI client: resumed=%v body:\n%s", second.state.DidResume, second.body)
	}
}

func TestUnknownSNIWithoutDefaultIsRefused(t *testing.T) {
	g := startGateway(t, testConfig(t, cacheTenant("a", "a.test")))
	if _, err := tryDial(g.addr(), clientOpts{sni: "zzz.test", version: tls.VersionTLS13}); err == nil {
		t.Fatal("handshake for an unknown server name succeeded")
	}
}

func TestWildcardServerNames(t *testing.T) {
	g := startGateway(t, testConfig(t, cacheTenant("w", "*.w.test"), cacheTenant("x", "x.w.test"), func() config.Tenant {
		d := cacheTenant("d", "d.test")
		d.Default = true
		return d
	}()))
	tests := []struct{ sni, tenant string }{
		{"a.w.test", "w"}, {"X.W.TEST", "x"}, {"a.b.w.test", "d"}, {"w.test", "d"},
	}
	for _, tt := range tests {
		v := dial(t, g.addr(), clientOpts{sni: tt.sni, version: tls.VersionTLS13})
		if !contains(v.body, "tenant:          "+tt.tenant+"\n") {
			t.Errorf("sni %q: want tenant %q, page:\n%s", tt.sni, tt.tenant, v.body)
		}
	}
}

func TestFleetResumesAcrossGateways(t *testing.T) {
	cfgA := testConfig(t, cacheTenant("a", "a.test"))
	cfgA.NATS.Embedded.Listen = "127.0.0.1:0"
	gA := startGateway(t, cfgA)
	if gA.NATSURL() == "" {
		t.Fatal("gateway A exposes no NATS client URL")
	}
	cfgB := testConfig(t, cacheTenant("a", "a.test"))
	cfgB.NATS.URL = gA.NATSURL()
	cfgB.NATS.NkeyFile = cfgA.NATS.Embedded.GatewayNkeyFile
	gB := startGateway(t, cfgB)
	for _, v := range []uint16{tls.VersionTLS13, tls.VersionTLS12} {
		_, second := resumeOnce(t, gA, gB.addr(), clientOpts{sni: "a.test", version: v})
		if !second.state.DidResume {
			t.Errorf("%s: session made on gateway A did not resume on gateway B", tls.VersionName(v))
		}
	}
}

// A TLS 1.2 resumption re-issues the same session: its identifier is handed
// out again and nothing new is stored; it keeps resuming.
func TestTLS12ResumptionReusesStoredSession(t *testing.T) {
	g := startGateway(t, testConfig(t, cacheTenant("a", "a.test")))
	o := clientOpts{sni: "a.test", version: tls.VersionTLS12, cache: tls.NewLRUClientSessionCache(1)}
	dial(t, g.addr(), o)
	g.waitStores(t)
	stored := counterValue(t, g, "tlsgate_session_stores_total", "result", "ok")
	if stored != 1 {
		t.Fatalf("stores after the full handshake = %v, want 1", stored)
	}
	for i := range 3 {
		if !dial(t, g.addr(), o).state.DidResume {
			t.Fatalf("TLS 1.2 resumption %d failed", i+1)
		}
		g.waitStores(t)
	}
	if n := counterValue(t, g, "tlsgate_session_stores_total", "result", "ok"); n != stored {
		t.Errorf("stores after 3 resumptions = %v, want still %v", n, stored)
	}
}

// A client that reconnects at once offers the ticket issued a moment ago,
// whose store may still be queued: the fetch waits for that store instead
// of missing (read your writes within a gateway).
func TestImmediateReconnectResumes(t *testing.T) {
	tn := cacheTenant("a", "a.test")
	tn.Guest.FetchDeadline = 5 * time.Second // generous: CI machines are busy
	g := startGateway(t, testConfig(t, tn))
	for _, v := range []uint16{tls.VersionTLS13, tls.VersionTLS12} {
		o := clientOpts{sni: "a.test", version: v, cache: tls.NewLRUClientSessionCache(1)}
		dial(t, g.addr(), o)
		for i := range 20 { // no waitStores: straight back
			if !dial(t, g.addr(), o).state.DidResume {
				t.Fatalf("%s: immediate reconnection %d did not resume", tls.VersionName(v), i+1)
			}
		}
	}
}

// A ticket whose store never lands (its handshake's client never sent the
// Finished, say), offered on many connections at once: each lookup waits
// for the store until its fetch deadline, then gives up without a guest
// call, so no guest fault is counted, the tenant's fetch is not suspended,
// and other clients go on resuming.
func TestUnlandedStoreCostsNoGuestFault(t *testing.T) {
	tn := cacheTenant("a", "a.test")
	tn.Guest.FetchDeadline = 50 * time.Millisecond
	g := startGateway(t, testConfig(t, tn))
	snap := g.snap.Load()
	p := pendingStore{tenant: "a", in: wasmhost.StoreInput{SessionID: snap.seal.newIdentifier("a")}}
	g.stores.register(p)
	defer g.stores.abandon(p)
	fetches := func() float64 {
		return counterValue(t, g, "tlsgate_guest_calls_total", "export", "tlsgate_on_session_fetch")
	}
	before := fetches()
	cs := tls.ConnectionState{Version: tls.VersionTLS13, ServerName: "a.test"}
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			c := &connSessions{ctx: context.Background(), t: snap.tenant("a"), seal: snap.seal, obs: g.metrics, stores: g.stores, kvUp: g.kv.Available}
			if ss, _ := c.unwrap(p.in.SessionID, cs); ss != nil {
				t.Error("a session that was never stored resumed")
			}
		})
	}
	wg.Wait()
	if n := fetches() - before; n != 0 {
		t.Errorf("guest fetches = %v, want 0 (the store never landed)", n)
	}
	if n := counterValue(t, g, "tlsgate_guest_faults_total", "export", "tlsgate_on_session_fetch"); n != 0 {
		t.Errorf("guest faults = %v, want 0", n)
	}
	o := clientOpts{sni: "a.test", version: tls.VersionTLS13, cache: tls.NewLRUClientSessionCache(1)}
	dial(t, g.addr(), o)
	g.waitStores(t)
	if !dial(t, g.addr(), o).state.DidResume {
		t.Fatal("another client's session does not resume")
	}
}

// An immediate reconnection costs one guest fetch: the lookup waits for
// this gateway's store of the ticket before asking, rather than asking,
// missing, and asking again.
func TestImmediateReconnectFetchesOnce(t *testing.T) {
	tn := cacheTenant("a", "a.test")
	tn.Guest.FetchDeadline = 5 * time.Second // generous: CI machines are busy
	g := startGateway(t, testConfig(t, tn))
	o := clientOpts{sni: "a.test", version: tls.VersionTLS13, cache: tls.NewLRUClientSessionCache(1)}
	dial(t, g.addr(), o)
	before := counterValue(t, g, "tlsgate_guest_calls_total", "export", "tlsgate_on_session_fetch")
	const n = 20
	for i := range n { // no waitStores: straight back
		if !dial(t, g.addr(), o).state.DidResume {
			t.Fatalf("immediate reconnection %d did not resume", i+1)
		}
	}
	if calls := counterValue(t, g, "tlsgate_guest_calls_total", "export", "tlsgate_on_session_fetch") - before; calls != n {
		t.Errorf("guest fetches for %d immediate reconnections = %v, want %d", n, calls, n)
	}
}

// ticketCache is a client session cache that remembers the last ticket (TLS
// 1.3 PSK identity) the server issued.
type ticketCache struct {
	tls.ClientSessionCache
	mu   sync.Mutex
	last []byte
}

func (c *ticketCache) Put(key string, cs *tls.ClientSessionState) {
	if cs != nil {
		if ticket, _, err := cs.ResumptionState(); err == nil {
			c.mu.Lock()
			c.last = ticket
			c.mu.Unlock()
		}
	}
	c.ClientSessionCache.Put(key, cs)
}

func (c *ticketCache) ticket() []byte {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.last
}

// A TLS 1.3 resumption re-issues a ticket that carries its new session,
// sealed with the identifier of the session it descends from: nothing new is
// stored, every resumption asks the guest (for that first session), nothing
// on the wire links two tickets of one chain, a second gateway resumes the
// re-issued ticket too, and deleting the first session revokes its
// descendants.
func TestTLS13ResumptionStoresOncePerFullHandshake(t *testing.T) {
	generous := func(tn config.Tenant) config.Tenant {
		tn.Guest.FetchDeadline = 5 * time.Second // a busy machine
		return tn
	}
	cfgA := testConfig(t, generous(cacheTenant("a", "a.test")))
	cfgA.NATS.Embedded.Listen = "127.0.0.1:0"
	g := startGateway(t, cfgA)
	cfgB := testConfig(t, generous(cacheTenant("a", "a.test")))
	cfgB.NATS.URL = g.NATSURL()
	cfgB.NATS.NkeyFile = cfgA.NATS.Embedded.GatewayNkeyFile
	gB := startGateway(t, cfgB)

	cache := &ticketCache{ClientSessionCache: tls.NewLRUClientSessionCache(1)}
	o := clientOpts{sni: "a.test", version: tls.VersionTLS13, cache: cache}
	dial(t, g.addr(), o)
	g.waitStores(t)
	seen := [][]byte{cache.ticket()}
	if len(seen[0]) != ticketIDLen {
		t.Fatalf("the full handshake's ticket is %d bytes, want a %d-byte identifier", len(seen[0]), ticketIDLen)
	}
	if n := counterValue(t, g, "tlsgate_session_stores_total", "result", "ok"); n != 1 {
		t.Fatalf("stores after the full handshake = %v, want 1", n)
	}
	calls := fetchCalls(t, g)
	for i := range 3 {
		if !dial(t, g.addr(), o).state.DidResume {
			t.Fatalf("TLS 1.3 resumption %d failed", i+1)
		}
		tk := cache.ticket()
		for _, before := range seen {
			if bytes.Contains(tk, before[:16]) || bytes.Contains(before, tk[:16]) {
				t.Fatalf("resumption %d re-issued a ticket that shares bytes with an earlier one of its chain", i+1)
			}
		}
		seen = append(seen, tk)
	}
	g.waitStores(t)
	if n := counterValue(t, g, "tlsgate_session_stores_total", "result", "ok"); n != 1 {
		t.Errorf("stores after 3 resumptions = %v, want still 1", n)
	}
	if n := fetchCalls(t, g); n != calls+3 {
		t.Errorf("guest fetches for 3 resumptions = %v, want 3: the guest decides each", n-calls)
	}
	if !dial(t, gB.addr(), o).state.DidResume {
		t.Fatal("a re-issued ticket did not resume on the second gateway")
	}
	gB.waitStores(t)
	if n := counterValue(t, gB, "tlsgate_session_stores_total", "result", "ok"); n != 0 {
		t.Errorf("the second gateway stored %v sessions for a resumption, want 0", n)
	}

	// The guest decides: delete the first session and its descendants stop
	// resuming (within the near cache's watch delay), as misses.
	kv := kvOf(t, g, "a")
	for key := range allEntries(t, kv) {
		if err := kv.Delete(context.Background(), key); err != nil {
			t.Fatal(err)
		}
	}
	misses := counterValue(t, g, "tlsgate_resumption_attempts_total", "result", "miss")
	eventually(t, "a descendant of a deleted session stops resuming", func() error {
		if dial(t, g.addr(), o).state.DidResume {
			return errors.New("still resumed") // and the client holds another descendant
		}
		return nil
	})
	if n := counterValue(t, g, "tlsgate_resumption_attempts_total", "result", "miss"); n != misses+1 {
		t.Errorf("misses after the delete = %v, want %v: the revoked descendant must be a guest miss", n-misses, 1)
	}
}

// What a re-issued TLS 1.3 ticket cannot be made to do: tickets that are
// garbage, for another tenant or SNI, or offered in a TLS 1.2 hello are
// refused without asking the guest.
func TestChainedTicketsRefusedWithoutTheGuest(t *testing.T) {
	g := startGateway(t, testConfig(t, cacheTenant("a", "a.test", "b.test"), cacheTenant("c", "c.test")))
	cache := &ticketCache{ClientSessionCache: tls.NewLRUClientSessionCache(1)}
	o := clientOpts{sni: "a.test", version: tls.VersionTLS13, cache: cache}
	dial(t, g.addr(), o)
	g.waitStores(t)
	if !dial(t, g.addr(), o).state.DidResume {
		t.Fatal("no resumption")
	}
	chained := cache.ticket()
	cs, _ := cache.ClientSessionCache.Get("a.test")
	_, state, err := cs.ResumptionState()
	if err != nil {
		t.Fatal(err)
	}
	garbage := make([]byte, len(chained))
	rand.Read(garbage)
	tls12 := tls.NewLRUClientSessionCache(1)
	dial(t, g.addr(), clientOpts{sni: "a.test", version: tls.VersionTLS12, cache: tls12})
	g.waitStores(t)
	cs12, _ := tls12.Get("a.test")
	_, state12, err := cs12.ResumptionState()
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		name    string
		sni     string
		version uint16
		ticket  []byte
		state   *tls.SessionState
		result  string
	}{
		{"garbage of a chained ticket's length", "a.test", tls.VersionTLS13, garbage, state, "tamper"},
		{"damaged chained ticket", "a.test", tls.VersionTLS13, append(append([]byte(nil), chained[:len(chained)-1]...), chained[len(chained)-1]^1), state, "tamper"},
		{"another tenant's", "c.test", tls.VersionTLS13, chained, state, "tamper"},
		{"another SNI of the tenant", "b.test", tls.VersionTLS13, chained, state, "mismatch"},
		{"offered in a TLS 1.2 hello", "a.test", tls.VersionTLS12, chained, state12, "foreign"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			calls := fetchCalls(t, g)
			before := counterValue(t, g, "tlsgate_resumption_attempts_total", "result", tt.result)
			offered, err := tls.NewResumptionState(tt.ticket, tt.state)
			if err != nil {
				t.Fatal(err)
			}
			v, err := tryDial(g.addr(), clientOpts{sni: tt.sni, version: tt.version, cache: &fixedCache{state: offered}})
			if err != nil || v.state.DidResume {
				t.Fatalf("resumed %v, error %v; want a full handshake", v.state.DidResume, err)
			}
			if n := fetchCalls(t, g); n != calls {
				t.Errorf("%v guest fetches, want none", n-calls)
			}
			if n := counterValue(t, g, "tlsgate_resumption_attempts_total", "result", tt.result); n != before+1 {
				t.Errorf("result %q counted %v times, want once", tt.result, n-before)
			}
		})
	}
}

// fixedCache offers one session for every server and keeps nothing.
type fixedCache struct{ state *tls.ClientSessionState }

func (c *fixedCache) Get(string) (*tls.ClientSessionState, bool) { return c.state, c.state != nil }
func (c *fixedCache) Put(string, *tls.ClientSessionState)        {}

// fetchCalls is how many times g called a guest's fetch export.
func fetchCalls(t *testing.T, g *Gateway) float64 {
	t.Helper()
	return counterValue(t, g, "tlsgate_guest_calls_total", "export", "tlsgate_on_session_fetch")
}
