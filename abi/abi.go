// Package abi is the tlsgate guest ABI, version 1, as Go constants and types.
//
// It is the contract between the gateway (the host, package wasmhost) and the
// WebAssembly guests that fetch and store TLS sessions. docs/abi.md is the
// normative text; this package mirrors it so that the host and the Go guest
// SDK compile against the same numbers. It imports nothing of tlsgate's.
//
// # Shape of a guest
//
// A guest is a WebAssembly module that exports:
//
//   - "memory": its linear memory;
//   - "_initialize" (optional): the reactor initialiser, called once after instantiation;
//   - [ExportMarker] "tlsgate_abi_v1": () -> (), never called, it declares ABI v1;
//   - [ExportOnInit] (optional): () -> i32 status, called once per instance after "_initialize";
//   - [ExportOnSessionFetch] and/or [ExportOnSessionStore], or (ABI 1.1)
//     [ExportOnClientHello], [ExportOnCertificate] or the upstream session
//     hooks [ExportOnUpstreamSessionFetch] and [ExportOnUpstreamSessionStore]:
//     () -> i32 status;
//
// and imports only functions of module [HostModule] ("tlsgate") listed in this
// package, plus "wasi_snapshot_preview1" functions (clocks and randomness are
// real; there is no filesystem, network, environment or argument list).
//
// [Hooks] describes every hook as data: its export, the inputs it carries,
// the outputs it may set and whether it may use the key-value functions.
//
// # Conventions
//
// All pointers and lengths are i32 offsets into the guest's own memory; the
// guest owns every buffer. A host function that produces bytes takes
// (buf, limit) and returns the full length of the value: if the value is longer
// than limit nothing is written, so the guest can grow its buffer and call
// again. A negative return value is a negated [Status]: -int32(StatusNotFound)
// and so on. Functions that return only a status return it non-negated.
//
// Worked example, reading the session identifier during a fetch:
//
//	n := input(InputSessionID, buf, 64)   // n == 32: 32 bytes written at buf
//	n := input(InputSessionID, buf, 16)   // n == 32: nothing written, buffer too small
//	n := input(InputSession, buf, 64)     // n == -1 (-StatusNotFound): no sealed session on fetch
package abi

// Version is the ABI version this package describes.
const Version = 1

// HostModule is the import module name of every tlsgate host function.
const HostModule = "tlsgate"

// WASIModule is the only other import module a guest may use.
const WASIModule = "wasi_snapshot_preview1"

// Guest exports.
const (
	// ExportMemory is the guest's linear memory; required.
	ExportMemory = "memory"
	// ExportInitialize is the reactor initialiser (Go -buildmode=c-shared,
	// TinyGo, wasi-libc reactors); optional, called once per instance.
	ExportInitialize = "_initialize"
	// ExportMarker declares ABI v1: () -> (). Required; never called.
	ExportMarker = "tlsgate_abi_v1"
	// ExportOnInit is optional: () -> i32. Called once per instance after
	// _initialize, with the inputs InputTenant and InputGuestConfig available.
	// Anything but StatusOK refuses the instance (and, for the first instance,
	// the module).
	ExportOnInit = "tlsgate_on_init"
	// ExportSharedInstances is optional: () -> (), never called. A guest
	// that exports it declares that it keeps nothing tenant-specific
	// between calls (it reads InputTenant in each call that needs it), so
	// the host may let one instance serve calls of several tenants with the
	// same module and guest configuration, one call at a time.
	ExportSharedInstances = "tlsgate_shared_instances"
	// ExportOnSessionFetch is () -> i32: StatusOK after SetSession is a hit,
	// StatusNotFound is a miss; anything else is a guest error (a full handshake).
	ExportOnSessionFetch = "tlsgate_on_session_fetch"
	// ExportOnSessionStore is () -> i32: StatusOK when the session was stored;
	// anything else is counted as a failed store.
	ExportOnSessionStore = "tlsgate_on_session_store"
	// ExportOnClientHello (ABI 1.1) is () -> i32, called for each
	// ClientHello on a listener, before a tenant is chosen: StatusOK goes
	// on (to the tenant FuncSetRoute named, if it was called, else by
	// SNI), StatusAccessDenied refuses the handshake; anything else is a
	// guest error, and the handshake goes on as if the hook were absent.
	ExportOnClientHello = "tlsgate_on_client_hello"
	// ExportOnCertificate (ABI 1.1) is () -> i32, called on a tenant's
	// full handshakes (and on every TLS 1.2 handshake, see docs/abi.md)
	// to choose the certificate: StatusOK presents the one
	// FuncSetCertificate named (or, if it named none, the host's own
	// choice), StatusAccessDenied refuses the handshake; anything else is a
	// guest error, and the host chooses as if the hook were absent.
	ExportOnCertificate = "tlsgate_on_certificate"
	// ExportOnUpstreamSessionFetch (ABI 1.1) is () -> i32, called when the
	// gateway opens a TLS connection to a tenant's https:// upstream and
	// holds no session for it: StatusOK after SetSession hands back a
	// session to resume, StatusNotFound is a miss; anything else is a guest
	// error (a full handshake with the upstream).
	ExportOnUpstreamSessionFetch = "tlsgate_on_upstream_session_fetch"
	// ExportOnUpstreamSessionStore (ABI 1.1) is () -> i32, called when an
	// upstream hands the gateway a session (a ticket): StatusOK when it was
	// stored; anything else is counted as a failed store.
	ExportOnUpstreamSessionStore = "tlsgate_on_upstream_session_store"
)

// Status is the result of a host function or a guest export. The numbers are
// fixed by the ABI and never reused.
type Status uint32

// Status codes.
const (
	// StatusOK: success; from a fetch export, a hit.
	StatusOK Status = 0
	// StatusNotFound: the key, input or session does not exist. Not an error:
	// a missing KV key, an input that this call does not carry, a fetch miss.
	StatusNotFound Status = 1
	// StatusBadArgument: an argument is out of its domain (unknown input kind,
	// empty key, negative length, SetSession outside a fetch call).
	StatusBadArgument Status = 2
	// StatusInvalidMemory: a pointer/length pair falls outside guest memory.
	// The instance is discarded after the call and the call counts as failed.
	StatusInvalidMemory Status = 3
	// StatusPending: the operation has not completed yet (Poll, Result, or
	// Await/AwaitAny whose timeout elapsed first). The handle stays valid.
	StatusPending Status = 4
	// StatusTimeout: the export call's deadline passed (or its context was
	// cancelled) while waiting; also the completion status of a KV
	// operation cut short that way.
	StatusTimeout Status = 5
	// StatusAccessDenied: the operation is not allowed to this guest (the v1
	// host never returns it). Returned by a store export, it means the guest
	// declines to keep this session by its own policy; the gateway counts it
	// as refused, apart from failures.
	StatusAccessDenied Status = 6
	// StatusLimitExceeded: a limit of this package was exceeded (key or value
	// size, number of handles, session size).
	StatusLimitExceeded Status = 7
	// StatusInternal: the host failed for a reason the guest cannot fix.
	StatusInternal Status = 8
	// StatusUnimplemented: the host does not implement this function or kind
	// (reserved: the v1 host implements everything).
	StatusUnimplemented Status = 9
	// StatusUnavailable: the key-value store cannot be reached now.
	StatusUnavailable Status = 10
	// StatusExists: KVCreate found the key already present.
	StatusExists Status = 11
	// StatusBadHandle: the handle is unknown, released, or of another call.
	// The instance is discarded after the call and the call counts as failed.
	StatusBadHandle Status = 12
)

var statusNames = [...]string{
	StatusOK: "OK", StatusNotFound: "NOT_FOUND", StatusBadArgument: "BAD_ARGUMENT",
	StatusInvalidMemory: "INVALID_MEMORY", StatusPending: "PENDING", StatusTimeout: "TIMEOUT",
	StatusAccessDenied: "ACCESS_DENIED", StatusLimitExceeded: "LIMIT_EXCEEDED",
	StatusInternal: "INTERNAL", StatusUnimplemented: "UNIMPLEMENTED",
	StatusUnavailable: "UNAVAILABLE", StatusExists: "EXISTS", StatusBadHandle: "BAD_HANDLE",
}

// String returns the ABI name of s, e.g. "NOT_FOUND", or "STATUS(n)".
func (s Status) String() string {
	if int(s) < len(statusNames) && statusNames[s] != "" {
		return statusNames[s]
	}
	return "STATUS(" + itoa(uint32(s)) + ")"
}

// Neg is the negated form a length-returning host function uses: -int32(s).
func (s Status) Neg() int32 { return -int32(s) }

// StatusFromNeg turns a negative length-style result back into a Status.
// It returns StatusOK for n >= 0.
func StatusFromNeg(n int32) Status {
	if n >= 0 {
		return StatusOK
	}
	return Status(uint32(-int64(n)))
}

func itoa(v uint32) string {
	var b [10]byte
	i := len(b)
	for {
		i--
		b[i] = byte('0' + v%10)
		v /= 10
		if v == 0 {
			return string(b[i:])
		}
	}
}
