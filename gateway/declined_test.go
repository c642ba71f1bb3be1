package gateway

import (
	"context"
	"crypto/tls"
	"testing"
)

// swappedTicket is a client session cache that offers its session's
// secrets with another ticket: what a client (or an attacker) does when it
// presents a TLS 1.3 PSK identity as a TLS 1.2 session ticket.
type swappedTicket struct {
	tls.ClientSessionCache
	ticket []byte // offered instead of the session's own, when set
}

func (c *swappedTicket) Get(key string) (*tls.ClientSessionState, bool) {
	cs, ok := c.ClientSessionCache.Get(key)
	if !ok || c.ticket == nil {
		return cs, ok
	}
	_, state, err := cs.ResumptionState()
	if err != nil {
		return nil, false
	}
	forged, err := tls.NewResumptionState(c.ticket, state)
	return forged, err == nil
}

// ticketOf returns the ticket (guest identifier) a client holds for sni.
func ticketOf(t *testing.T, cache tls.ClientSessionCache, sni string) []byte {
	t.Helper()
	cs, ok := cache.Get(sni)
	if !ok {
		t.Fatal("the client holds no session")
	}
	ticket, _, err := cs.ResumptionState()
	if err != nil {
		t.Fatal(err)
	}
	return ticket
}

// A session the guest finds but crypto/tls declines (here a TLS 1.3
// session offered as a TLS 1.2 ticket) is no hit, and the full handshake
// that follows issues and stores a session of its own, which then resumes.
func TestSessionDeclinedByCryptoTLSIsNoHit(t *testing.T) {
	g := startGateway(t, testConfig(t, cacheTenant("a", "a.test")))
	cache13 := tls.NewLRUClientSessionCache(1)
	dial(t, g.addr(), clientOpts{sni: "a.test", version: tls.VersionTLS13, cache: cache13})
	g.waitStores(t)
	id13 := ticketOf(t, cache13, "a.test")

	swapped := &swappedTicket{ClientSessionCache: tls.NewLRUClientSessionCache(1)}
	o12 := clientOpts{sni: "a.test", version: tls.VersionTLS12, cache: swapped}
	dial(t, g.addr(), o12)
	g.waitStores(t)
	swapped.ticket = id13
	if v := dial(t, g.addr(), o12); v.state.DidResume {
		t.Fatal("a TLS 1.3 session resumed as a TLS 1.2 one")
	}
	g.waitStores(t)
	if hits := counterValue(t, g, "tlsgate_resumption_attempts_total", "mechanism", "tls12_ticket"); hits != 1 {
		t.Errorf("tls12 attempts = %v, want 1", hits)
	}
	if got := counterValue(t, g, "tlsgate_resumption_attempts_total", "result", "declined"); got != 1 {
		t.Errorf("declined attempts = %v, want 1", got)
	}
	if got := counterValue(t, g, "tlsgate_resumption_attempts_total", "result", "hit"); got != 0 {
		t.Errorf("hits = %v, want 0: nothing resumed", got)
	}

	swapped.ticket = nil
	if got := ticketOf(t, swapped, "a.test"); string(got) == string(id13) {
		t.Fatal("the full handshake after the declined session re-issued the declined identifier")
	}
	if v := dial(t, g.addr(), o12); !v.state.DidResume {
		t.Fatal("the session of the full handshake after a declined one does not resume: it was not stored")
	}
}

// One identity offered several times in a ClientHello (crypto/tls asks
// about up to 5 PSK identities) costs one guest fetch, not five.
func TestRepeatedIdentityIsFetchedOnce(t *testing.T) {
	g := startGateway(t, testConfig(t, cacheTenant("a", "a.test")))
	cache := tls.NewLRUClientSessionCache(1)
	dial(t, g.addr(), clientOpts{sni: "a.test", version: tls.VersionTLS13, cache: cache})
	g.waitStores(t)
	id := ticketOf(t, cache, "a.test")

	snap := g.snap.Load()
	c := &connSessions{ctx: context.Background(), t: snap.tenant("a"), seal: snap.seal, obs: g.metrics, stores: g.stores, kvUp: g.kv.Available}
	before := counterValue(t, g, "tlsgate_guest_calls_total", "export", "tlsgate_on_session_fetch")
	cs := tls.ConnectionState{Version: tls.VersionTLS13, ServerName: "a.test"}
	found := 0
	for range 5 {
		if ss, _ := c.unwrap(id, cs); ss != nil {
			found++
		}
	}
	if calls := counterValue(t, g, "tlsgate_guest_calls_total", "export", "tlsgate_on_session_fetch") - before; calls != 1 {
		t.Errorf("guest fetches for one identity offered 5 times = %v, want 1", calls)
	}
	if found != 1 {
		t.Errorf("sessions handed to crypto/tls = %d, want 1", found)
	}
}
