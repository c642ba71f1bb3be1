package gateway

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"time"

	"github.com/tlsgate/tlsgate/abi"
	"github.com/tlsgate/tlsgate/wasmhost"
)

// ticketIDLen is the length of the random handle that stands for a session
// in a stateful ticket or TLS 1.3 PSK identity.
const ticketIDLen = 32

// Seal purposes: a blob sealed for one cannot be opened as the other.
const (
	purposeStored    = "stored"    // kept by a guest under an identifier
	purposeStateless = "stateless" // the ticket itself (tenants without a guest)
	purposeChained   = "chained"   // a TLS 1.3 ticket re-issued on resumption, bound to the identifier it descends from
)

// resumeResult is what became of one resumption attempt.
type resumeResult string

// Resumption results, as metric label values.
const (
	resultNone       resumeResult = ""            // no attempt
	resultHit        resumeResult = "hit"         // session found and accepted by us
	resultMiss       resumeResult = "miss"        // guest said not found
	resultTimeout    resumeResult = "timeout"     // fetch deadline passed
	resultGuestError resumeResult = "guest_error" // trap, bad status, store down
	resultTamper     resumeResult = "tamper"      // blob did not open or parse
	resultMismatch   resumeResult = "mismatch"    // bound to another tenant, SNI or ALPN
	resultExpired    resumeResult = "expired"     // older than the tenant's session TTL
	resultForeign    resumeResult = "foreign"     // ticket not issued for this tenant: made up, or another tenant's
	resultDeclined   resumeResult = "declined"    // found and valid, but crypto/tls would not resume it (version, cipher suite)
	resultRepeated   resumeResult = "repeated"    // an identity the same ClientHello already offered: no second fetch
	resultKVDown     resumeResult = "kv_down"     // NATS is not answering: no fetch was tried
	resultSuspended  resumeResult = "suspended"   // the guest is suspended after repeated faults: no call was made
	resultCPUBudget  resumeResult = "cpu_budget"  // the tenant's guest used up its CPU budget: no call was made
)

// maxOffered bounds the identities one connection looks up; crypto/tls
// itself asks about at most 5 TLS 1.3 PSK identities per ClientHello (and a
// second hello after a HelloRetryRequest offers them again).
const maxOffered = 10

// pendingStore is a session to store once the handshake has succeeded.
type pendingStore struct {
	tenant string
	in     wasmhost.StoreInput
	queued time.Time // when the handshake succeeded and the store was queued
}

// connSessions carries one connection's session hooks. It is used only by
// the connection's handshake goroutine, then read by the same goroutine
// after Handshake returns, so it needs no lock.
type connSessions struct {
	routedSNI  string // the SNI a listener's client-hello guest routed this connection on, if it did
	ctx        context.Context
	t          *tenant
	seal       *sealer
	clientAddr string
	obs        *metrics
	stores     *storeQueue
	kvUp       func() bool // whether the KV store answers (natskv.Client.Available)

	// found is the last session unwrap handed to crypto/tls. crypto/tls may
	// still decline it (its own version, cipher suite and lifetime checks)
	// and go on to the next identity or a full handshake; only when the
	// ConnectionState says DidResume is found the session resumed.
	found *foundSession
	// offered are the identities this connection has looked up already.
	offered [][]byte
	// roots are the sessions whose descendants this connection was offered,
	// with whether the guest still had them.
	roots     []rootCheck
	mechanism abi.Mechanism
	result    resumeResult
	pending   []pendingStore
}

// rootCheck is what the guest said of a session descendants name.
type rootCheck struct {
	id []byte
	ok bool
}

// foundSession is a session unwrap returned to crypto/tls.
type foundSession struct {
	// created is the session's original creation time: tickets re-issued
	// on resumption keep it, so lifetime is never extended.
	created time.Time
	// id is its guest identifier (nil for a stateless ticket).
	id []byte
}

// resumed returns the session this connection resumed, once crypto/tls
// has accepted one (cs.DidResume), or nil.
func (c *connSessions) resumed(cs tls.ConnectionState) *foundSession {
	if !cs.DidResume {
		return nil
	}
	return c.found
}

// outcome is the resumption result to count once the handshake is over: a
// session we found that crypto/tls then declined is no hit.
func (c *connSessions) outcome(cs tls.ConnectionState) resumeResult {
	if c.result == resultHit && !cs.DidResume {
		return resultDeclined
	}
	return c.result
}

func (c *connSessions) want(cs tls.ConnectionState) binding {
	return binding{Tenant: c.t.name, ServerName: cs.ServerName, ALPN: cs.NegotiatedProtocol}
}

func mechanismOf(cs tls.ConnectionState) abi.Mechanism {
	if cs.Version == tls.VersionTLS13 {
		return abi.MechanismTLS13PSK
	}
	return abi.MechanismTLS12Ticket
}

// sessionPolicy is how a tenant keeps its sessions, chosen once when the
// tenant is built: stateless tickets (no guest) or sessions kept by its
// guest. The hooks of connSessions do the work common to both and hand the
// rest to the policy.
type sessionPolicy interface {
	// wrap issues the ticket for the session ss of this connection.
	wrap(c *connSessions, cs tls.ConnectionState, ss *tls.SessionState) ([]byte, error)
	// unwrap turns an offered identity (not empty, not yet offered in this
	// hello) into a session to hand crypto/tls, or nil, noting the result.
	unwrap(c *connSessions, identity []byte, cs tls.ConnectionState, mech abi.Mechanism) *tls.SessionState
	// sessionIDs reports whether the tenant resumes TLS 1.2 clients by
	// Session ID (server-side state is needed for that).
	sessionIDs() bool
}

var (
	_ sessionPolicy = statelessTickets{}
	_ sessionPolicy = guestSessions{}
)

// statelessTickets: the sealed, bound session is the ticket itself.
type statelessTickets struct{}

func (statelessTickets) wrap(c *connSessions, cs tls.ConnectionState, ss *tls.SessionState) ([]byte, error) {
	plain, err := c.bind(cs, ss, c.createdAt(cs))
	if err != nil {
		return nil, err
	}
	return c.seal.sealBlob(plain, purposeStateless, c.t.name, nil), nil
}

func (statelessTickets) unwrap(c *connSessions, identity []byte, cs tls.ConnectionState, mech abi.Mechanism) *tls.SessionState {
	plain, err := c.seal.openBlob(identity, purposeStateless, c.t.name, nil)
	if err != nil {
		c.note(mech, resultTamper)
		return nil
	}
	return c.accept(plain, cs, mech, nil)
}

func (statelessTickets) sessionIDs() bool { return false }

// guestSessions: the ticket is a random identifier, and the tenant's guest
// fetches and stores the sealed session under it.
type guestSessions struct {
	pool         *wasmhost.Pool
	fetch, store bool // the guest's exports
}

func newGuestSessions(pool *wasmhost.Pool, m *wasmhost.Module) guestSessions {
	return guestSessions{pool: pool, fetch: m.HasFetch(), store: m.HasStore()}
}

func (guestSessions) sessionIDs() bool { return true }

func (g guestSessions) unwrap(c *connSessions, identity []byte, cs tls.ConnectionState, mech abi.Mechanism) *tls.SessionState {
	if len(identity) > ticketIDLen {
		return g.unwrapChained(c, identity, cs, mech)
	}
	if !c.seal.issued(c.t.name, identity) {
		// Made up, or issued for another tenant: no guest or store work.
		c.note(mech, resultForeign)
		return nil
	}
	if !g.canAsk(c, mech) {
		return nil
	}
	return c.lookup(g.pool, identity, cs, mech)
}

// canAsk reports whether the guest can be asked for a session: it exports
// the fetch hook (a store-only guest has nothing to say) and NATS answers (a
// hung or unreachable one would make the fetch wait out its whole deadline
// for nothing).
func (g guestSessions) canAsk(c *connSessions, mech abi.Mechanism) bool {
	if !g.fetch {
		return false
	}
	if !c.kvUp() {
		c.note(mech, resultKVDown)
		return false
	}
	return true
}

// unwrapChained resumes a ticket re-issued on a TLS 1.3 resumption (see
// wrap): the sealed identifier of the session it descends from, then the
// new session. Everything that can be checked without the guest is checked
// first; then the guest is asked for that identifier, once per connection,
// and only while it still has that session is the carried one resumed: the
// guest decides, and deleting the session revokes every ticket re-issued
// from it.
func (g guestSessions) unwrapChained(c *connSessions, identity []byte, cs tls.ConnectionState, mech abi.Mechanism) *tls.SessionState {
	if mech != abi.MechanismTLS13PSK {
		c.note(mech, resultForeign) // only TLS 1.3 tickets descend from a session
		return nil
	}
	plain, err := c.seal.openBlob(identity, purposeChained, c.t.name, nil)
	if err != nil || len(plain) < ticketIDLen {
		c.note(mech, resultTamper) // made up, damaged, or another tenant's: no guest or store work
		return nil
	}
	id, next := plain[:ticketIDLen], plain[ticketIDLen:]
	if !c.seal.issued(c.t.name, id) {
		c.note(mech, resultForeign)
		return nil
	}
	ss, created, ok := c.check(next, cs, mech)
	if !ok {
		return nil
	}
	if !g.canAsk(c, mech) {
		return nil
	}
	if !c.rootHolds(g.pool, id, created, cs, mech) {
		return nil
	}
	return c.hand(ss, created, id, mech)
}

// rootHolds reports whether the guest still has the session stored under
// id, made at created: asked once per connection, however many tickets
// descending from it the client offers.
func (c *connSessions) rootHolds(pool *wasmhost.Pool, id []byte, created time.Time, cs tls.ConnectionState, mech abi.Mechanism) bool {
	for _, r := range c.roots {
		if bytes.Equal(r.id, id) {
			if !r.ok {
				c.note(mech, resultRepeated)
			}
			return r.ok
		}
	}
	ok := false
	if root := c.fetchStored(pool, id, cs, mech); root != nil {
		if _, rootCreated, valid := c.check(root, cs, mech); valid {
			// Sealed by this fleet for id, so a descendant always keeps its
			// root's creation time; checked all the same.
			ok = created.Equal(rootCreated)
			if !ok {
				c.note(mech, resultMismatch)
			}
		}
	}
	c.roots = append(c.roots, rootCheck{id: id, ok: ok})
	return ok
}

// wrap is tls.Config.WrapSession: it binds the session to this connection,
// seals it, and returns the ticket, as the tenant's policy says.
func (c *connSessions) wrap(cs tls.ConnectionState, ss *tls.SessionState) ([]byte, error) {
	return c.t.policy.wrap(c, cs, ss)
}

func (g guestSessions) wrap(c *connSessions, cs tls.ConnectionState, ss *tls.SessionState) ([]byte, error) {
	if r := c.resumed(cs); r != nil && r.id != nil {
		switch {
		case cs.Version == tls.VersionTLS12:
			// A TLS 1.2 resumption re-issues the very session it resumed:
			// same master secret, same creation time, and a binding just
			// checked. The stored entry stands, so hand out its identifier
			// again and spare the guest a store and NATS a write.
			return r.id, nil
		case g.fetch:
			// A TLS 1.3 resumption re-issues with a fresh PSK. Storing it
			// would cost a guest call and a NATS write on every
			// resumption, the dearest part of it (docs/performance.md).
			// Instead the ticket carries it: the identifier of the session
			// it descends from (whose creation time it keeps, so no
			// lifetime is extended) and the new session, sealed together,
			// so that nothing on the wire links two tickets of one chain.
			// Resuming it asks the guest for that identifier
			// (unwrapChained): the guest still decides every resumption,
			// and stores once per full handshake.
			bound, err := c.bind(cs, ss, r.created)
			if err != nil {
				return nil, err
			}
			plain := append(append(make([]byte, 0, len(r.id)+len(bound)), r.id...), bound...)
			return c.seal.sealBlob(plain, purposeChained, c.t.name, nil), nil
		}
	}
	id := c.seal.newIdentifier(c.t.name)
	if !g.store {
		return id, nil // a fetch-only guest keeps sessions its own way
	}
	if err := c.storeLater(id, cs, ss, mechanismOf(cs)); err != nil {
		return nil, err
	}
	return id, nil
}

// createdAt is when the session this connection issues was first created:
// the resumed session's creation, or now for a full handshake.
func (c *connSessions) createdAt(cs tls.ConnectionState) time.Time {
	if r := c.resumed(cs); r != nil {
		return r.created
	}
	return time.Now()
}

// bind re-appends the binding (created being the session's first creation)
// and serialises the session.
func (c *connSessions) bind(cs tls.ConnectionState, ss *tls.SessionState, created time.Time) ([]byte, error) {
	b := c.want(cs)
	b.Created = created
	ss.Extra = withBinding(ss.Extra, b)
	return ss.Bytes()
}

// storeLater seals the session under id and queues it for the guest's store
// export, to be committed only if the handshake succeeds.
func (c *connSessions) storeLater(id []byte, cs tls.ConnectionState, ss *tls.SessionState, mech abi.Mechanism) error {
	created := c.createdAt(cs)
	ttl := c.t.cfg.SessionTTL - time.Since(created)
	if ttl < time.Second {
		return nil // nothing worth keeping; the id will simply miss
	}
	plain, err := c.bind(cs, ss, created)
	if err != nil {
		return err
	}
	p := pendingStore{tenant: c.t.name, in: wasmhost.StoreInput{
		SessionID:  id,
		Session:    c.seal.sealBlob(plain, purposeStored, c.t.name, id),
		TTL:        ttl.Truncate(time.Millisecond),
		Created:    created,
		ServerName: cs.ServerName,
		ALPN:       cs.NegotiatedProtocol,
		ClientAddr: c.clientAddr,
		TLSVersion: cs.Version,
		Mechanism:  mech,
	}}
	c.stores.register(p)
	c.pending = append(c.pending, p)
	return nil
}

// unwrap is tls.Config.UnwrapSession. It never returns an error: anything
// that goes wrong means no session, so the handshake goes full.
func (c *connSessions) unwrap(identity []byte, cs tls.ConnectionState) (*tls.SessionState, error) {
	if len(identity) == 0 {
		return nil, nil // TLS 1.2 ClientHello without a ticket
	}
	mech := mechanismOf(cs)
	if c.repeated(identity) {
		c.note(mech, resultRepeated)
		return nil, nil
	}
	return c.t.policy.unwrap(c, identity, cs, mech), nil
}

// lookup asks the tenant's guest (its pool) for id and checks what comes
// back.
func (c *connSessions) lookup(pool *wasmhost.Pool, id []byte, cs tls.ConnectionState, mech abi.Mechanism) *tls.SessionState {
	plain := c.fetchStored(pool, id, cs, mech)
	if plain == nil {
		return nil
	}
	return c.accept(plain, cs, mech, id)
}

// fetchStored asks the tenant's guest for the session stored under id and
// opens it; nil (with the result noted) if there is none to use.
func (c *connSessions) fetchStored(pool *wasmhost.Pool, id []byte, cs tls.ConnectionState, mech abi.Mechanism) []byte {
	ctx, cancel := context.WithTimeout(c.ctx, c.t.cfg.Guest.FetchDeadline)
	defer cancel()
	start := time.Now()
	in := wasmhost.FetchInput{
		SessionID:  id,
		ServerName: cs.ServerName,
		ALPN:       cs.NegotiatedProtocol,
		ClientAddr: c.clientAddr,
		TLSVersion: cs.Version,
		Mechanism:  mech,
	}
	// Read your writes: a client that reconnects at once offers the ticket
	// this gateway issued a moment ago, whose store may still be queued or
	// running. Then wait for that store (within the deadline) before asking
	// the guest: asked earlier, it could only miss, at the cost of a guest
	// call and a NATS round trip. Otherwise ask, and on a miss ask again
	// where the session may yet land (fetchAgain). The guest stays the only
	// source of sessions.
	if storing := c.stores.storing(c.t.name, id); storing != nil {
		select {
		case <-storing:
		case <-ctx.Done():
			// The store did not land within the fetch deadline. The guest
			// could only miss, so it is not asked: a call with no time
			// left would fail as a guest timeout, and a client that holds
			// a handshake's Finished back (its store is never queued)
			// could then get the tenant's fetch suspended.
			c.obs.fetchDone(c.t.name, time.Since(start))
			c.note(mech, resultTimeout)
			return nil
		}
	}
	blob, err := pool.Fetch(ctx, in)
	if errors.Is(err, wasmhost.ErrMiss) {
		blob, err = c.fetchAgain(ctx, pool, in, blob, err)
	}
	c.obs.fetchDone(c.t.name, time.Since(start))
	if err != nil {
		c.note(mech, classifyFetchError(err))
		return nil
	}
	plain, err := c.seal.openBlob(blob, purposeStored, c.t.name, id)
	if err != nil {
		c.note(mech, resultTamper)
		return nil
	}
	return plain
}

// fetchAgain is read-your-writes across gateways, after a miss: an
// authentic identifier another gateway issued a moment ago may still be on
// its way to the store, so ask again, at growing intervals from
// crossGatewayRetry, until it lands or the fetch deadline passes (only
// authentic identifiers, so a client cannot make a gateway wait with
// made-up ones; a session that never lands costs at most about
// log2(deadline/crossGatewayRetry) fetches). This gateway's own
// identifiers are not asked again: lookup waited for their store, if one
// was pending, so what it did is known.
func (c *connSessions) fetchAgain(ctx context.Context, pool *wasmhost.Pool, in wasmhost.FetchInput, blob []byte, err error) ([]byte, error) {
	if c.seal.issuedHere(in.SessionID) || !freshlyIssued(in.SessionID) {
		return blob, err
	}
	t := time.NewTimer(crossGatewayRetry)
	defer t.Stop()
	for wait := crossGatewayRetry; errors.Is(err, wasmhost.ErrMiss); wait *= 2 {
		select {
		case <-t.C:
		case <-ctx.Done():
			return blob, err
		}
		blob, err = pool.Fetch(ctx, in)
		t.Reset(wait * 2)
	}
	return blob, err
}

// Cross-gateway read-your-writes: a session issued less than
// freshWindow ago (by the issuing gateway's clock, so the window allows for
// skew) that is not in the store yet is asked for again from
// crossGatewayRetry on, doubling, within the fetch deadline.
const (
	freshWindow       = 5 * time.Second
	crossGatewayRetry = 5 * time.Millisecond
)

// freshlyIssued reports whether id was issued less than freshWindow ago.
func freshlyIssued(id []byte) bool {
	age := time.Since(issuedAt(id))
	return age > -freshWindow && age < freshWindow
}

// repeated reports whether this connection already looked identity up (a
// ClientHello may list one identity several times, and each would cost a
// guest fetch and a NATS get), or has looked up as many as it may;
// otherwise it remembers identity.
func (c *connSessions) repeated(identity []byte) bool {
	if len(c.offered) >= maxOffered {
		return true
	}
	for _, o := range c.offered {
		if bytes.Equal(o, identity) {
			return true
		}
	}
	c.offered = append(c.offered, identity)
	return false
}

// accept parses an opened session and checks its binding and lifetime. A
// session that passes is handed to crypto/tls as found (id being its guest
// identifier, nil for a stateless ticket); crypto/tls decides whether it
// resumes.
func (c *connSessions) accept(plain []byte, cs tls.ConnectionState, mech abi.Mechanism, id []byte) *tls.SessionState {
	ss, created, ok := c.check(plain, cs, mech)
	if !ok {
		return nil
	}
	return c.hand(ss, created, id, mech)
}

// check parses an opened session and checks its binding and lifetime,
// noting why when it fails; created is the session's first creation.
func (c *connSessions) check(plain []byte, cs tls.ConnectionState, mech abi.Mechanism) (ss *tls.SessionState, created time.Time, ok bool) {
	ss, err := tls.ParseSessionState(plain)
	if err != nil {
		c.note(mech, resultTamper)
		return nil, time.Time{}, false
	}
	b, err := findBinding(ss.Extra)
	if err != nil {
		c.note(mech, resultTamper)
		return nil, time.Time{}, false
	}
	if !b.matches(c.want(cs)) {
		c.note(mech, resultMismatch)
		return nil, time.Time{}, false
	}
	if age := time.Since(b.Created); age > c.t.cfg.SessionTTL || age < -time.Minute {
		c.note(mech, resultExpired)
		return nil, time.Time{}, false
	}
	return ss, b.Created, true
}

// hand hands ss to crypto/tls as this connection's session (id being its
// guest identifier, nil for a stateless ticket).
func (c *connSessions) hand(ss *tls.SessionState, created time.Time, id []byte, mech abi.Mechanism) *tls.SessionState {
	c.found = &foundSession{created: created, id: id}
	c.note(mech, resultHit)
	return ss
}

// note records the attempt's result; a TLS 1.3 client may offer several
// identities, and the last word (a hit, if any) stands. A hit here means
// found and handed to crypto/tls; outcome turns it into declined when
// crypto/tls did not resume it.
func (c *connSessions) note(mech abi.Mechanism, r resumeResult) {
	if c.result == resultHit {
		return
	}
	c.mechanism, c.result = mech, r
}

func classifyFetchError(err error) resumeResult {
	var ge *wasmhost.GuestError
	switch {
	case errors.Is(err, wasmhost.ErrMiss):
		return resultMiss
	case errors.Is(err, wasmhost.ErrSuspended):
		return resultSuspended
	case errors.Is(err, wasmhost.ErrCPUBudget):
		return resultCPUBudget
	case errors.Is(err, context.DeadlineExceeded):
		return resultTimeout
	case errors.As(err, &ge) && ge.Kind == wasmhost.FaultTimeout:
		return resultTimeout
	default:
		return resultGuestError
	}
}

// lookupByID is the patched crypto/tls's GetSessionByID (TLS 1.2 clients
// that resume by Session ID): the same guest fetch, unsealing and checks as
// a ticket, with the mechanism input telling the guest which it is. Most
// Session IDs a server sees are not resumption attempts at all (clients send
// random ones for middlebox compatibility), so an ID this fleet did not
// issue for the tenant is ignored: no guest call, nothing counted.
func (c *connSessions) lookupByID(id []byte, cs tls.ConnectionState) (*tls.SessionState, error) {
	g, ok := c.t.policy.(guestSessions)
	if !ok || !c.seal.issued(c.t.name, id) || !g.fetch || c.repeated(id) {
		return nil, nil
	}
	if !c.kvUp() {
		c.note(abi.MechanismTLS12ID, resultKVDown)
		return nil, nil
	}
	return c.lookup(g.pool, id, cs, abi.MechanismTLS12ID), nil
}

// newSessionID is the patched crypto/tls's NewSessionID: Session IDs are
// built like ticket identifiers, so lookupByID recognises its own.
func (c *connSessions) newSessionID() ([]byte, error) {
	return c.seal.newIdentifier(c.t.name), nil
}

// storeByID is the patched crypto/tls's StoreSessionByID: the session is
// queued exactly like a ticket's, under the Session ID the server assigned,
// and committed only once Handshake has returned nil.
func (c *connSessions) storeByID(id []byte, ss *tls.SessionState, cs tls.ConnectionState) error {
	if g, ok := c.t.policy.(guestSessions); !ok || !g.store {
		return nil
	}
	return c.storeLater(append([]byte(nil), id...), cs, ss, abi.MechanismTLS12ID)
}
