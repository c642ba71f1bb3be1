package guest

import "github.com/tlsgate/tlsgate/abi"

// The upstream session hooks (ABI 1.1): a tenant's guest exports
//
//	//go:wasmexport tlsgate_on_upstream_session_fetch
//	func onUpstreamFetch() abi.Status { ... } // SetSession, or abi.StatusNotFound
//
//	//go:wasmexport tlsgate_on_upstream_session_store
//	func onUpstreamStore() abi.Status { ... } // keep Session() for TTL()
//
// and keys what it keeps by Upstream. The sessions are sealed by the
// gateway, bound to the tenant and the upstream, like client sessions.

// Upstream returns the upstream an upstream session is for, "host:port";
// empty outside the upstream session hooks.
func Upstream() string { return string(inputBytes(abi.InputUpstream)) }

// AppendUpstream appends Upstream's bytes to dst (no allocation once dst
// has grown), for a key.
func AppendUpstream(dst []byte) []byte {
	out, _ := AppendInput(dst, abi.InputUpstream)
	return out
}
