// Package prebuilt embeds the guests tlsgate ships, built from guests/ by
// go run ./internal/cmd/buildguests, so that the gateway runs with no build
// step on a fresh clone: the Go guests (guests/<name>) and their
// AssemblyScript ports (guests/assemblyscript/<name>, files <name>-as.wasm),
// which keep the same keys, values and config. The test in package guestbuild rebuilds them and
// fails when the committed bytes drift from their source.
package prebuilt

import _ "embed"

// SessionCache is the reference session guest (guests/sessioncache): fetch
// and store sealed sessions in the tenant's key-value namespace under the key
// prefix+session ID. Its guest config is "prefix=<p>" (default "s/").
// Callers must not modify the slice.
//
//go:embed sessioncache.wasm
var SessionCache []byte

// PolicyCache is the second shipped guest (guests/policycache): a session
// cache with a per-tenant policy from its guest config, e.g.
// "max_ttl=1h;tls13_only=true;prefix=p/". It keeps a session for
// min(TTL, max_ttl), refuses to store sessions below TLS 1.3 when
// tls13_only=true (the store returns ACCESS_DENIED), and creates keys
// (first writer wins) instead of overwriting them. It has no "builtin:"
// name: configs reference guests/prebuilt/policycache.wasm by path.
// Callers must not modify the slice.
//
//go:embed policycache.wasm
var PolicyCache []byte

// EdgePolicy is the reference guest of the ABI 1.1 hooks that run before a
// session (guests/edgepolicy): as a listener's client-hello guest it
// refuses ClientHellos by JA4 fingerprint (deny_ja4=..., and keys
// "ja4/<fingerprint>" in the listener's key-value namespace); as a tenant's
// guest it picks the certificate by SNI (cert.<server name>=<name>).
// Callers must not modify the slice.
//
//go:embed edgepolicy.wasm
var EdgePolicy []byte

// SessionCacheAS is the AssemblyScript port of SessionCache
// (guests/assemblyscript/sessioncache): the same keys, values and config,
// in a module of a few kilobytes. Callers must not modify the slice.
//
//go:embed sessioncache-as.wasm
var SessionCacheAS []byte

// PolicyCacheAS is the AssemblyScript port of PolicyCache
// (guests/assemblyscript/policycache), with the same config and keys.
// Callers must not modify the slice.
//
//go:embed policycache-as.wasm
var PolicyCacheAS []byte
