// Package sessionidtest proves TLS 1.2 resumption by Session ID with real
// clients (openssl s_client, a Java 17 program) against a crypto/tls server
// built with tlsgate's patch (patches/crypto-tls-sessionid.patch).
//
// The package has tests only. Those that need the patched crypto/tls carry
// the build tag tlsgate_sessionid and compile only with the overlay:
//
//	go run ./internal/cmd/tlsoverlay -out _build/overlay
//	go test -overlay _build/overlay/overlay.json -tags tlsgate_sessionid ./internal/sessionidtest
//
// A plain go test ./... builds the overlay and runs that command itself
// (TestPatchedCryptoTLS), and shows that an unpatched server never resumes
// by Session ID.
package sessionidtest
