// Package prebuilt embeds the guests tlsgate ships, built from guests/ by
// go run ./internal/cmd/buildguests, so that the gateway runs with no build
// step on a fresh clone. The test in package guestbuild rebuilds them and
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
