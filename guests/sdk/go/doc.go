// Package guest is the Go SDK for tlsgate session guests: WebAssembly modules
// built with the standard Go toolchain (GOOS=wasip1 GOARCH=wasm
// -buildmode=c-shared) that the gateway calls to fetch and store TLS sessions.
//
// The SDK wraps the raw host functions of ABI v1 (package
// github.com/tlsgate/tlsgate/abi, normative text in docs/abi.md) in typed Go:
//
//   - call inputs: [SessionID], [Session], [TTL], [Tenant], [ServerName],
//     [ALPN], [TLSVersion], [Mechanism], [ClientAddr], [GuestConfig], [Call],
//     [SessionCreated], and the raw [Input]; allocation-free forms for hot
//     paths: [AppendInput], [AppendSessionID], [AppendSession];
//   - the fetch result: [SetSession];
//   - logging: [Log], [Logf] and the level helpers [Debug], [Info], [Warn], [Error];
//   - the tenant's key-value namespace: [KV] with blocking calls
//     ([Store.Get], [Store.GetAppend], [Store.Put], [Store.Create],
//     [Store.Delete]) that allocate nothing on success, and asynchronous
//     ones ([Store.GetAsync] and friends) returning a [Future] for running
//     several operations at once; [AwaitAny] waits for the first of several.
//     A heap allocation costs a Go guest about a microsecond: hot paths
//     reuse their buffers with the Append forms;
//   - errors: every failure is a [*StatusError] carrying the ABI status,
//     comparable with errors.Is to [ErrNotFound], [ErrExists],
//     [ErrUnavailable] and the other sentinels; [StatusOf] turns an error
//     back into the status an export returns.
//
// Importing this package exports the ABI marker "tlsgate_abi_v1" from the
// module (//go:wasmexport works outside package main), so a guest declares
// only its hooks:
//
//	//go:wasmexport tlsgate_on_session_fetch
//	func fetch() abi.Status {
//		v, err := guest.KV.Get(guest.SessionID())
//		if err != nil {
//			return guest.StatusOf(err) // abi.StatusNotFound is a miss
//		}
//		return guest.StatusOf(guest.SetSession(v))
//	}
//
// A store that declines a session by policy returns abi.StatusAccessDenied
// (counted as refused, apart from failures). The SDK is a module of its own
// that requires only github.com/tlsgate/tlsgate/abi; README.md shows how a
// guest outside the tlsgate repository depends on it, a complete guest and
// the build command.
//
// # Rules
//
// A guest instance serves one export call at a time, and the SDK keeps no
// state between calls except a scratch buffer. A [Future] belongs to the export
// call that started it: the host releases every handle when the export
// returns, so a Future must not be kept for a later call. At most
// [abi.MaxHandles] operations may be live at once; [Future.Await] and
// [Future.Release] free one.
//
// On a host other than wasip1 the package compiles (so go build, go vet and
// go doc work on the whole repository) but every host function reports
// [ErrUnimplemented].
package guest
