package gateway

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/url"
	"os"
	"sync/atomic"
	"time"

	"github.com/tlsgate/tlsgate/wasmhost"
)

// upstreamPurpose binds a sealed upstream session to its use.
const upstreamPurpose = "upstream-session"

// Bounds of an upstream session cache: the sessions this gateway keeps in
// memory (by the upstream's server name: one tenant's transport has one),
// and the stores to the guest in flight at once; a store past that is
// dropped (counted), since the next ticket will be another chance.
const (
	upstreamLocalSessions  = 64
	upstreamStoresInFlight = 4
	// upstreamMissFor is how long a miss in the guest is believed: an
	// upstream that never resumes (no tickets) must not cost a NATS round
	// trip on every connection to it.
	upstreamMissFor = time.Second
)

// upstreamSessions is the tls.ClientSessionCache of a tenant's https://
// upstream transport. It keeps sessions in memory, and when the tenant's
// guest exports the upstream session hooks (ABI 1.1), stores each new one
// through the guest, sealed and bound to the tenant and the upstream, and
// asks the guest for one before a full handshake: a session one gateway
// made resumes on every gateway of the fleet. Any failure is a full
// handshake with the upstream, never a failed request.
type upstreamSessions struct {
	tenant   string
	upstream string // "host:port": what sessions are bound to (abi.InputUpstream)
	ttl      time.Duration
	fetchFor time.Duration // a guest fetch's deadline
	storeFor time.Duration
	local    tls.ClientSessionCache
	seal     func() *sealer // the current snapshot's

	fetch, store atomic.Pointer[wasmhost.Pool] // nil: the guest has no such hook
	missUntil    atomic.Int64                  // UnixNano: no guest fetch before it
	inFlight     chan struct{}
	m            *metrics
	log          *slog.Logger
}

// upstreamName is target's "host:port", port 443 when it gives none.
func upstreamName(target *url.URL) string {
	if target.Port() != "" {
		return target.Host
	}
	return net.JoinHostPort(target.Hostname(), "443")
}

// upstreamTLS is the TLS client configuration of an https:// upstream:
// the roots of caFile (else the system's) and the session cache up.
func upstreamTLS(caFile string, up *upstreamSessions) (*tls.Config, error) {
	c := &tls.Config{ClientSessionCache: up}
	if caFile != "" {
		pem, err := os.ReadFile(caFile)
		if err != nil {
			return nil, err
		}
		c.RootCAs = x509.NewCertPool()
		if !c.RootCAs.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("%s: no PEM certificate in it", caFile)
		}
	}
	return c, nil
}

// use wires the tenant's guest: its upstream hooks, where it exports them.
func (u *upstreamSessions) use(p *wasmhost.Pool, fetch, store bool) {
	if fetch {
		u.fetch.Store(p)
	}
	if store {
		u.store.Store(p)
	}
}

func (u *upstreamSessions) count(result string) {
	u.m.upstreamSessions.WithLabelValues(u.tenant, result).Inc()
}

// Get returns the session for key from memory, else from the guest.
func (u *upstreamSessions) Get(key string) (*tls.ClientSessionState, bool) {
	if cs, ok := u.local.Get(key); ok {
		u.count("local")
		return cs, true
	}
	p := u.fetch.Load()
	if p == nil || time.Now().UnixNano() < u.missUntil.Load() {
		return nil, false
	}
	ctx, cancel := context.WithTimeout(context.Background(), u.fetchFor)
	blob, err := p.UpstreamFetch(ctx, u.upstream)
	cancel()
	switch {
	case errors.Is(err, wasmhost.ErrMiss):
		u.count("miss")
		u.missUntil.Store(time.Now().Add(upstreamMissFor).UnixNano())
		return nil, false
	case err != nil:
		u.count("error")
		u.log.Debug("upstream session fetch failed: a full handshake with the upstream", "tenant", u.tenant, "upstream", u.upstream, "err", err)
		return nil, false
	}
	cs, err := u.open(blob)
	if err != nil {
		u.count("unsealable")
		return nil, false
	}
	u.count("hit")
	u.local.Put(key, cs)
	return cs, true
}

// Put keeps a session the upstream sent, and stores it through the guest
// off the request's path; a nil cs forgets key's.
func (u *upstreamSessions) Put(key string, cs *tls.ClientSessionState) {
	u.local.Put(key, cs)
	if cs != nil {
		u.missUntil.Store(0)
	}
	p := u.store.Load()
	if cs == nil || p == nil {
		return
	}
	blob, err := u.sealSession(cs)
	if err != nil {
		u.count("store_failed")
		return
	}
	select {
	case u.inFlight <- struct{}{}:
	default:
		u.count("store_dropped")
		return
	}
	go func() {
		defer func() { <-u.inFlight }()
		ctx, cancel := context.WithTimeout(context.Background(), u.storeFor)
		err := p.UpstreamStore(ctx, u.upstream, blob, u.ttl)
		cancel()
		if err != nil {
			u.count("store_failed")
			u.log.Debug("upstream session store failed", "tenant", u.tenant, "upstream", u.upstream, "err", err)
			return
		}
		u.count("stored")
	}()
}

// sealSession encodes cs (ticket length, ticket, crypto/tls's encoding of
// the session) and seals it for this tenant and upstream.
func (u *upstreamSessions) sealSession(cs *tls.ClientSessionState) ([]byte, error) {
	ticket, state, err := cs.ResumptionState()
	if err != nil || state == nil {
		return nil, errors.New("gateway: no resumption state")
	}
	sb, err := state.Bytes()
	if err != nil {
		return nil, err
	}
	plain := binary.AppendUvarint(make([]byte, 0, 4+len(ticket)+len(sb)), uint64(len(ticket)))
	plain = append(append(plain, ticket...), sb...)
	return u.seal().sealBlob(plain, upstreamPurpose, u.tenant, []byte(u.upstream)), nil
}

// open unseals and decodes what sealSession made, for this tenant and
// upstream only.
func (u *upstreamSessions) open(blob []byte) (*tls.ClientSessionState, error) {
	plain, err := u.seal().openBlob(blob, upstreamPurpose, u.tenant, []byte(u.upstream))
	if err != nil {
		return nil, err
	}
	n, k := binary.Uvarint(plain)
	if k <= 0 || n > uint64(len(plain)-k) {
		return nil, ErrUnsealable
	}
	ticket := plain[k : k+int(n)]
	state, err := tls.ParseSessionState(plain[k+int(n):])
	if err != nil {
		return nil, err
	}
	return tls.NewResumptionState(ticket, state)
}
