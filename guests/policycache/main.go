//go:build wasip1

// Command policycache is a session guest that caches sealed TLS sessions in
// the tenant's key-value namespace under a per-tenant policy read from its
// guest config, for example:
//
//	max_ttl=1h;tls13_only=true;prefix=p/
//
// Fields are key=value, separated by semicolons or newlines:
//
//   - prefix (default "p/"): the KV key is prefix + the session identifier.
//   - max_ttl (a Go duration, default 0: no cap): a session is kept for
//     min(TTL input, max_ttl).
//   - tls13_only (default false): sessions of TLS 1.2 handshakes are not
//     cached, and TLS 1.2 fetches miss without a KV read.
//
// Decisions:
//
//   - store: creates the key with kv_create, so the first writer of an
//     identifier wins. A key that already exists is not overwritten and the
//     store returns OK: the identifier already names a session the gateway
//     sealed. A store refused by the policy (TLS version too low) returns
//     ACCESS_DENIED: nothing was stored, and the ABI counts any status but OK
//     as a store that did not happen (tlsgate_session_stores_total
//     result="error"), so refusals are visible in metrics instead of being
//     reported as stored. A KV failure returns its status (UNAVAILABLE,
//     TIMEOUT, ...).
//   - fetch: a hit hands the value to the gateway (OK), a missing key or a
//     version the policy refuses is a miss (NOT_FOUND), a KV failure is its
//     status, so metrics tell a miss from an outage.
//
// Every decision is logged at debug level with the first bytes of the
// identifier (the gateway adds the tenant). An invalid guest config refuses the module at
// load (tlsgate_on_init returns BAD_ARGUMENT), so `tlsgate check` reports it.
//
// Build it with: go run ./internal/cmd/buildguests
package main

import (
	"github.com/tlsgate/tlsgate/abi"
	guest "github.com/tlsgate/tlsgate/guests/sdk/go"
)

// pol is set by tlsgate_on_init from the guest config; an instance serves
// one tenant with one config for its whole life.
var pol = policy{prefix: defaultPrefix, minVersion: versionTLS12}

//go:wasmexport tlsgate_on_init
func onInit() abi.Status {
	p, err := parsePolicy(guest.GuestConfig())
	if err != nil {
		guest.Error("policycache: " + err.Error())
		return abi.StatusBadArgument
	}
	pol = p
	guest.Debug("policycache: tenant " + guest.Tenant() + ": " + p.String())
	return abi.StatusOK
}

//go:wasmexport tlsgate_on_session_fetch
func onFetch() abi.Status {
	id := guest.SessionID()
	if len(id) == 0 {
		return abi.StatusBadArgument
	}
	if v := guest.TLSVersion(); !pol.allows(v) {
		debug("fetch", id, "miss: "+versionName(v)+" sessions are not cached")
		return abi.StatusNotFound
	}
	v, err := guest.KV.Get(key(id))
	if err != nil {
		s := guest.StatusOf(err)
		if s == abi.StatusNotFound {
			debug("fetch", id, "miss")
		} else {
			debug("fetch", id, err.Error())
		}
		return s
	}
	if err := guest.SetSession(v); err != nil {
		debug("fetch", id, err.Error())
		return guest.StatusOf(err)
	}
	debug("fetch", id, "hit")
	return abi.StatusOK
}

//go:wasmexport tlsgate_on_session_store
func onStore() abi.Status {
	id := guest.SessionID()
	if len(id) == 0 {
		return abi.StatusBadArgument
	}
	if v := guest.TLSVersion(); !pol.allows(v) {
		debug("store", id, "refused: "+versionName(v)+" sessions are not cached")
		return abi.StatusAccessDenied
	}
	requested := guest.TTL()
	ttl := pol.ttl(requested)
	err := guest.KV.Create(key(id), guest.Session(), ttl)
	switch s := guest.StatusOf(err); s {
	case abi.StatusOK:
		debug("store", id, "stored for "+ttl.String()+" (asked "+requested.String()+")")
		return abi.StatusOK
	case abi.StatusExists:
		debug("store", id, "kept the first session stored under this identifier")
		return abi.StatusOK
	default:
		debug("store", id, err.Error())
		return s
	}
}

// key is the KV key of a session: the configured prefix, then the raw
// identifier bytes (the host encodes keys for the store).
func key(id []byte) []byte {
	k := make([]byte, 0, len(pol.prefix)+len(id))
	return append(append(k, pol.prefix...), id...)
}

// debug logs one decision: "policycache: store 0a1b2c3d: <what>".
func debug(op string, id []byte, what string) {
	guest.Debug("policycache: " + op + " " + shortHex(id) + ": " + what)
}

func main() {}
