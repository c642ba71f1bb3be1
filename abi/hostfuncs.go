package abi

// Host function names, all in module HostModule ("tlsgate"). The Wasm
// signature of each is given as (params) -> (results); i32 and i64 are Wasm
// value types, "ptr" and "len" are i32 offsets and sizes in guest memory.
const (
	// FuncInput: (kind i32, buf ptr, limit len) -> i32.
	// Copies the call input of the given InputKind to buf and returns its
	// length. If the length is greater than limit nothing is written.
	// -StatusNotFound: this call does not carry that input (InputSession on a fetch).
	// -StatusBadArgument: unknown kind, or limit < 0.
	// -StatusInvalidMemory: [buf, buf+min(len,limit)) is outside memory.
	FuncInput = "input"

	// FuncSetSession: (ptr, len) -> i32 status (in a fetch or, ABI 1.1, an
	// upstream fetch).
	// During a fetch call, hands the sealed session back to the host; the
	// bytes are copied before the function returns. A later call replaces
	// the earlier one. StatusBadArgument outside a fetch call;
	// StatusLimitExceeded if len > MaxSessionLen; StatusInvalidMemory.
	FuncSetSession = "set_session"

	// FuncLog: (level i32, ptr, len) -> i32 status.
	// Writes a UTF-8 message at a LogLevel; messages longer than MaxLogLen
	// are truncated; the host may rate-limit (dropped messages still return
	// StatusOK). StatusBadArgument for an unknown level.
	FuncLog = "log"

	// FuncKVGet: (key ptr, key len) -> i32 handle or -status.
	// Registers reading key from the tenant's namespace. Key (and, for put and
	// create, value) are copied at once; the operation runs no later than
	// the guest's next wait point (await, await_any, poll, result), and
	// await(h, -1) runs h on the waiting thread: see docs/abi.md.
	FuncKVGet = "kv_get"
	// FuncKVPut: (key ptr, key len, value ptr, value len, ttl_ms i64) -> i32 handle or -status.
	// Registers writing key = value, run as for FuncKVGet; ttl_ms > 0 expires the key after that many
	// milliseconds (NATS counts whole seconds, rounding up), ttl_ms == 0 keeps
	// it for the namespace's default lifetime, ttl_ms < 0 is StatusBadArgument.
	FuncKVPut = "kv_put"
	// FuncKVCreate: (key ptr, key len, value ptr, value len, ttl_ms i64) -> i32 handle or -status.
	// Like FuncKVPut but completes with StatusExists if the key is present.
	FuncKVCreate = "kv_create"
	// FuncKVDelete: (key ptr, key len) -> i32 handle or -status.
	// Registers deleting key, run as for FuncKVGet; deleting a missing key completes with StatusOK.
	FuncKVDelete = "kv_delete"

	// FuncAwait: (handle i32, timeout_ms i32) -> i32 status.
	// Waits for the operation to complete and returns its completion status
	// (StatusOK, StatusNotFound, StatusExists, StatusUnavailable,
	// StatusTimeout when the call's deadline cut the operation short,
	// StatusInternal). timeout_ms < 0 waits until the call's deadline
	// (then StatusTimeout); timeout_ms == 0 is FuncPoll; when timeout_ms
	// elapses first the result is StatusPending and the handle stays valid.
	FuncAwait = "await"
	// FuncAwaitAny: (handles ptr, n i32, timeout_ms i32) -> i32 index or -status.
	// handles points at n little-endian i32 handles (1 <= n <= MaxHandles).
	// Returns the index in that array of a completed operation (the lowest
	// index if several are complete), -StatusPending if timeout_ms elapsed,
	// -StatusTimeout at the call's deadline, -StatusBadHandle if any entry is
	// not a live handle.
	FuncAwaitAny = "await_any"
	// FuncPoll: (handle i32) -> i32 status. Never blocks: StatusPending or the
	// completion status.
	FuncPoll = "poll"
	// FuncResult: (handle i32, buf ptr, limit len) -> i32 len or -status.
	// For a completed get with StatusOK, copies the value (input-style buf,
	// limit rules). For other completed operations returns 0 when the
	// operation succeeded, else the negated completion status
	// (-StatusNotFound for a missing key). -StatusPending if not complete.
	FuncResult = "result"
	// FuncRelease: (handle i32) -> i32 status. Frees the handle; a pending
	// operation is cancelled (a put may or may not have happened). Handles
	// still live when the export returns are released by the host.
	FuncRelease = "release"
	// FuncSetRoute (ABI 1.1): (ptr, len) -> i32 status.
	// During a client-hello call, names the tenant the handshake goes to
	// (UTF-8, copied before the function returns); a later call replaces
	// the earlier one. StatusBadArgument outside a client-hello call or
	// for len < 1; StatusLimitExceeded if len > MaxTenantNameLen;
	// StatusInvalidMemory. A name no tenant of the listener has makes the
	// handshake go on by SNI.
	FuncSetRoute = "set_route"
	// FuncSetCertificate (ABI 1.1): (ptr, len) -> i32 status.
	// During a certificate call, names the tenant's certificate to present
	// (one of InputCertificates' names, copied before the function
	// returns); a later call replaces the earlier one. StatusBadArgument
	// outside a certificate call or for len < 1; StatusLimitExceeded if
	// len > MaxCertificateNameLen; StatusInvalidMemory. A name the tenant
	// has no certificate of, or one whose key the client cannot verify,
	// makes the host choose as if the hook were absent.
	FuncSetCertificate = "set_certificate"
)

// InputKind selects a call input for FuncInput. Integer inputs are encoded as
// 8 bytes, little-endian unsigned.
type InputKind uint32

// Input kinds.
const (
	// InputSessionID: the session identifier, opaque: 32 bytes for tickets and
	// TLS 1.3 PSK identities, 1 to 32 bytes for a TLS 1.2 Session ID. Fetch and store.
	InputSessionID InputKind = 1
	// InputSession: the sealed session blob to keep (opaque ciphertext). Store only.
	InputSession InputKind = 2
	// InputTTL: u64, milliseconds the session should be kept. Store only.
	InputTTL InputKind = 3
	// InputTenant: the tenant name, UTF-8. Every call, on_init included.
	InputTenant InputKind = 4
	// InputServerName: the SNI the client sent (may be empty). Fetch and store.
	InputServerName InputKind = 5
	// InputALPN: the negotiated application protocol (may be empty). Fetch and store.
	InputALPN InputKind = 6
	// InputTLSVersion: u64, 0x0303 for TLS 1.2, 0x0304 for TLS 1.3. Fetch and store.
	InputTLSVersion InputKind = 7
	// InputClientAddr: the client's address as "ip:port" text. Fetch and store.
	InputClientAddr InputKind = 8
	// InputGuestConfig: the tenant's guest configuration, opaque bytes (may be empty). Every call.
	InputGuestConfig InputKind = 9
	// InputMechanism: u64, a Mechanism. Fetch and store.
	InputMechanism InputKind = 10
	// InputCall: u64, a CallKind: which export is running. Every call.
	InputCall InputKind = 11
	// InputSessionCreated: u64, Unix seconds at which the session was first
	// created (a full handshake). Store only.
	InputSessionCreated InputKind = 12

	// ABI 1.1, the client-hello hook's (with InputServerName and
	// InputClientAddr). Lists of 16-bit values are 2 bytes each,
	// little-endian, in the order the client sent them, GREASE values
	// included.

	// InputALPNOffered: the application protocols the client offered,
	// each as one length byte and its bytes, in the client's order.
	InputALPNOffered InputKind = 13
	// InputSupportedVersions: u16 list, the supported_versions extension
	// (or only the legacy version when the client sent none).
	InputSupportedVersions InputKind = 14
	// InputCipherSuites: u16 list.
	InputCipherSuites InputKind = 15
	// InputSupportedGroups: u16 list, the supported_groups extension.
	InputSupportedGroups InputKind = 16
	// InputSignatureSchemes: u16 list, the signature_algorithms extension.
	InputSignatureSchemes InputKind = 17
	// InputExtensions: u16 list, the extension types, in order.
	InputExtensions InputKind = 18
	// InputJA4: ASCII, the ClientHello's JA4 fingerprint, computed by the host.
	InputJA4 InputKind = 19
	// InputCertificates: the tenant's certificates, in its configuration's
	// order (the default one, named "default", first): for each, one
	// length byte, its name, and one KeyType byte. Certificate hook only.
	InputCertificates InputKind = 20

	// InputUpstream: UTF-8, the upstream's name, "host:port" as the
	// tenant's upstream URL gives it (port 443 when it gives none): what
	// an upstream session is for. Upstream session hooks only.
	InputUpstream InputKind = 21

	// inputLast is the highest input kind of this ABI version.
	inputLast = InputUpstream
)

// Known reports whether k is an input kind of this ABI version. Which
// hooks carry it is Hook.Inputs.
func (k InputKind) Known() bool { return k >= InputSessionID && k <= inputLast }

// Mechanism tells a guest how the client offered or will offer the session.
type Mechanism uint64

// Mechanisms.
const (
	MechanismTLS13PSK    Mechanism = 1 // TLS 1.3 pre-shared key identity (a ticket).
	MechanismTLS12Ticket Mechanism = 2 // TLS 1.2 session ticket (RFC 5077).
	MechanismTLS12ID     Mechanism = 3 // TLS 1.2 Session ID (RFC 5246 s7.4.1.2).
)

// CallKind tells a guest which export is running (InputCall).
type CallKind uint64

// Call kinds.
const (
	CallInit          CallKind = 1
	CallFetch         CallKind = 2
	CallStore         CallKind = 3
	CallClientHello   CallKind = 4 // ABI 1.1
	CallCertificate   CallKind = 5 // ABI 1.1
	CallUpstreamFetch CallKind = 6 // ABI 1.1
	CallUpstreamStore CallKind = 7 // ABI 1.1
)

// KeyType is a certificate's public key algorithm in InputCertificates.
type KeyType uint8

// Key types.
const (
	KeyOther   KeyType = 0
	KeyECDSA   KeyType = 1
	KeyRSA     KeyType = 2
	KeyEd25519 KeyType = 3
)

// LogLevel is the level argument of FuncLog; it maps to log/slog levels.
type LogLevel int32

// Log levels.
const (
	LogDebug LogLevel = 0
	LogInfo  LogLevel = 1
	LogWarn  LogLevel = 2
	LogError LogLevel = 3
)

// Limits enforced by the host.
const (
	// MaxKeyLen is the largest KV key, in bytes, before the host's encoding.
	MaxKeyLen = 512
	// MaxValueLen is the largest KV value, in bytes.
	MaxValueLen = 64 << 10
	// MaxSessionLen is the largest session a fetch may hand back.
	MaxSessionLen = 64 << 10
	// MaxTenantNameLen is the longest tenant name FuncSetRoute takes.
	MaxTenantNameLen = 64
	// MaxCertificateNameLen is the longest certificate name; a tenant has
	// at most MaxCertificates certificates, so InputCertificates fits in
	// MaxInputLen.
	MaxCertificateNameLen = 64
	// MaxCertificates is the most certificates a tenant may have.
	MaxCertificates = 512
	// MaxHandles is the number of handles live at once in one export call.
	MaxHandles = 64
	// MaxLogLen is the longest log message kept; longer ones are truncated.
	MaxLogLen = 4096
	// MaxSessionIDLen is the longest SESSION_ID the host passes: a session
	// hook's identifier is 1 to MaxSessionIDLen bytes (tlsgate's own are
	// exactly 32), and the host refuses a call with any other.
	MaxSessionIDLen = 32
	// MaxInputLen bounds every byte input (guest config included).
	MaxInputLen = 64 << 10
)
