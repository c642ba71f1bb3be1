//go:build wasip1

// Command sessioncache is tlsgate's reference session guest: it keeps sealed
// TLS sessions in the tenant's key-value namespace.
//
//   - fetch: get key prefix+SessionID; a hit hands the value to the gateway
//     (StatusOK), a missing key is a miss (StatusNotFound), a store that
//     cannot be reached is a guest error (StatusUnavailable), so metrics tell
//     a miss from an outage; the handshake is full in both cases.
//   - store: put key prefix+SessionID = the sealed session, expiring after
//     the TTL input.
//   - upstream fetch and store (ABI 1.1): the same with key
//     upstreamPrefix+Upstream, so a tenant's https:// upstream sessions are
//     shared by every gateway.
//
// The guest config is a tiny text format: lines or semicolon-separated
// fields of key=value; the only key is "prefix" (default "s/"). Example:
//
//	prefix=sess/
//
// Build it with: go run ./internal/cmd/buildguests
package main

import (
	"github.com/tlsgate/tlsgate/abi"
	guest "github.com/tlsgate/tlsgate/guests/sdk/go"
)

// prefix is set by tlsgate_on_init from the guest config. It depends on
// nothing else: keys are in the calling tenant's namespace whichever tenant
// calls, so one instance may serve the calls of every tenant that has the
// same guest config.
var prefix = []byte(defaultPrefix)

// sharedInstances declares that (abi.ExportSharedInstances): the host may
// then let 10,000 tenants with this guest share a few instances.
//
//go:wasmexport tlsgate_shared_instances
func sharedInstances() {}

//go:wasmexport tlsgate_on_init
func onInit() abi.Status {
	cfg, err := parseConfig(guest.GuestConfig())
	if err != nil {
		guest.Error("sessioncache: " + err.Error())
		return abi.StatusBadArgument
	}
	prefix = []byte(cfg.prefix)
	guest.Debug("sessioncache: key prefix " + cfg.prefix)
	return abi.StatusOK
}

// Buffers reused across calls: a wasip1 guest runs one call at a time, and a
// heap allocation costs a Go guest about a microsecond, so the hot paths
// allocate nothing once these have grown to size. key is the configured
// prefix, then the raw identifier bytes (the host encodes keys for the store).
var key, value, session []byte

//go:wasmexport tlsgate_on_session_fetch
func onFetch() abi.Status {
	key = guest.AppendSessionID(append(key[:0], prefix...))
	if len(key) == len(prefix) {
		return abi.StatusBadArgument
	}
	var err error
	value, err = guest.KV.GetAppend(value[:0], key)
	if err != nil {
		s := guest.StatusOf(err)
		if s != abi.StatusNotFound {
			guest.Debug("sessioncache: fetch: " + err.Error())
		}
		return s
	}
	if err := guest.SetSession(value); err != nil {
		guest.Debug("sessioncache: fetch: " + err.Error())
		return guest.StatusOf(err)
	}
	return abi.StatusOK
}

//go:wasmexport tlsgate_on_session_store
func onStore() abi.Status {
	key = guest.AppendSessionID(append(key[:0], prefix...))
	if len(key) == len(prefix) {
		return abi.StatusBadArgument
	}
	session = guest.AppendSession(session[:0])
	if err := guest.KV.Put(key, session, guest.TTL()); err != nil {
		guest.Debug("sessioncache: store: " + err.Error())
		return guest.StatusOf(err)
	}
	return abi.StatusOK
}

// upstreamPrefix leads the key of an upstream session: apart from client
// sessions, whose identifiers the gateway makes 32 random bytes.
const upstreamPrefix = "u/"

//go:wasmexport tlsgate_on_upstream_session_fetch
func onUpstreamFetch() abi.Status {
	key = guest.AppendUpstream(append(key[:0], upstreamPrefix...))
	if len(key) == len(upstreamPrefix) {
		return abi.StatusBadArgument
	}
	var err error
	if value, err = guest.KV.GetAppend(value[:0], key); err != nil {
		return guest.StatusOf(err)
	}
	return guest.StatusOf(guest.SetSession(value))
}

//go:wasmexport tlsgate_on_upstream_session_store
func onUpstreamStore() abi.Status {
	key = guest.AppendUpstream(append(key[:0], upstreamPrefix...))
	if len(key) == len(upstreamPrefix) {
		return abi.StatusBadArgument
	}
	session = guest.AppendSession(session[:0])
	return guest.StatusOf(guest.KV.Put(key, session, guest.TTL()))
}

func main() {}
