// Package wasmhost runs tlsgate's session guests: WebAssembly modules that
// implement guest ABI v1 (package abi) on wazero.
//
// A Runtime compiles modules (Compile validates the ABI up front: marker,
// hooks, signatures, memory, imports) and owns the "tlsgate" host module. A
// Pool runs one Module for one tenant with a bounded set of instances, each
// used by one call at a time; Fetch and Store call the guest's hooks.
//
// # Choices
//
//   - Each export call runs under min(ctx deadline, now+WithCallTimeout).
//     One watchdog goroutine per Runtime, ticking every millisecond while
//     calls run, stops a call that overruns it or whose ctx is cancelled
//     (a context per call would cost a timer and four allocations on every
//     fetch); wazero's CloseOnContextDone then closes the module. The call
//     fails with a *GuestError of Kind FaultTimeout that also matches
//     context.DeadlineExceeded, and the instance is discarded. A call whose
//     deadline passed fails that way even if the export returned (late, e.g.
//     after an await that ended with StatusTimeout): the handshake has given
//     up, and wazero may be closing the module concurrently.
//   - A fetch that returns StatusOK after set_session is a hit; StatusNotFound
//     is a miss (ErrMiss) whether or not set_session was called; StatusOK
//     without set_session is a guest error (FaultStatus), not a miss, so that a
//     broken guest shows up in metrics instead of hiding as a low hit rate.
//   - StatusInvalidMemory and StatusBadHandle mark the call as a misuse: it
//     fails (FaultMisuse) whatever the export returns, and the instance is
//     discarded, since a guest that passes wild pointers may have corrupted
//     its own state.
//   - A negative length is StatusBadArgument (not a misuse), as abi says; a
//     pointer/length pair outside memory (negative pointers included, they are
//     large unsigned offsets) is StatusInvalidMemory.
//   - Guest KV keys are binary; the host encodes them as base64url without
//     padding before they reach KV, so the namespace is exactly the KV given
//     to the pool. A KV operation runs at the guest's next wait point: a
//     blocking await runs it on the calling goroutine, other wait points
//     launch pending operations on goroutines of their own, under a context
//     that ends when the handle is released or the export call returns.
//     KV errors map to statuses through ErrKeyNotFound, ErrKeyExists and
//     ErrUnavailable; context errors to StatusTimeout; others to
//     StatusInternal.
//   - await_any with n < 1 is StatusBadArgument and with n > abi.MaxHandles
//     StatusLimitExceeded; set_session with length 0 is accepted (an empty
//     session).
//   - A trap with the memory within min(4 MiB, cap/16) of the cap is
//     reported as FaultMemory, other traps as FaultTrap.
//   - Guest log messages go to the pool's logger with the attributes tenant,
//     module and export, rate-limited to 20/s with bursts of 50 per pool; the
//     number dropped is attached to the next message and logged by the reaper.
//   - WASI has real clocks and crypto/rand randomness; no filesystem,
//     environment, arguments or sleep (poll_oneoff returns at once);
//     stdout and stderr are discarded.
package wasmhost
