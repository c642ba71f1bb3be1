package guest

import (
	"time"
	"unsafe"

	"github.com/tlsgate/tlsgate/abi"
)

// Input returns a copy of the current call's input of the given kind.
// It returns ErrNotFound when this call does not carry that input (the
// sealed session during a fetch, for instance) and ErrBadArgument for a kind
// the host does not know. The typed accessors below are usually simpler.
func Input(kind abi.InputKind) ([]byte, error) {
	v, s := readGrowing(func(buf unsafe.Pointer, limit int32) int32 {
		return hostInput(uint32(kind), buf, limit)
	})
	return v, statusErr("input", s)
}

// inputBytes is Input without the error: a missing input reads as empty.
func inputBytes(kind abi.InputKind) []byte {
	v, _ := Input(kind)
	return v
}

// inputUint decodes an integer input (8 bytes, little-endian); a missing or
// malformed input reads as 0. It decodes by hand: encoding/binary would
// link reflect into every guest.
func inputUint(kind abi.InputKind) uint64 {
	// Read through the package scratch buffer: no allocation.
	if hostInput(uint32(kind), unsafe.Pointer(&scratch[0]), 8) != 8 {
		return 0
	}
	var u uint64
	for i := 7; i >= 0; i-- {
		u = u<<8 | uint64(scratch[i])
	}
	return u
}

// AppendInput appends the call input of the given kind to dst and returns
// the extended slice. With a dst of enough capacity, reused across calls,
// it allocates nothing; Input is the simpler, allocating form. Errors as
// for Input (dst is returned unchanged).
func AppendInput(dst []byte, kind abi.InputKind) ([]byte, error) {
	out, s := appendGrowing(dst, func(buf unsafe.Pointer, limit int32) int32 {
		return hostInput(uint32(kind), buf, limit)
	})
	if s != abi.StatusOK {
		return dst, statusErr("input", s)
	}
	return out, nil
}

// AppendSessionID appends the session identifier to dst (nothing outside
// fetch and store calls). Hot paths use it with a reused buffer, e.g. to
// build a key: key = guest.AppendSessionID(append(key[:0], prefix...)).
func AppendSessionID(dst []byte) []byte {
	out, _ := AppendInput(dst, abi.InputSessionID)
	return out
}

// AppendSession appends the sealed session of a store call to dst (nothing
// outside a store call).
func AppendSession(dst []byte) []byte {
	out, _ := AppendInput(dst, abi.InputSession)
	return out
}

// SessionID returns the session identifier of a fetch or store call: 32
// random bytes for tickets and TLS 1.3 PSK identities, 1 to 32 bytes for a
// TLS 1.2 Session ID. It is empty outside those calls.
func SessionID() []byte { return inputBytes(abi.InputSessionID) }

// Session returns the sealed session blob a store call asks to keep (opaque
// ciphertext). It is empty outside a store call.
func Session() []byte { return inputBytes(abi.InputSession) }

// TTL returns how long a store call asks the session to be kept; 0 outside a
// store call.
func TTL() time.Duration {
	ms := inputUint(abi.InputTTL)
	if ms > uint64(1<<63-1)/uint64(time.Millisecond) {
		return time.Duration(1<<63 - 1)
	}
	return time.Duration(ms) * time.Millisecond
}

// Tenant returns the name of the tenant the call is for. Every call carries it.
func Tenant() string { return string(inputBytes(abi.InputTenant)) }

// ServerName returns the SNI the client sent, or "" when it sent none.
func ServerName() string { return string(inputBytes(abi.InputServerName)) }

// ALPN returns the negotiated application protocol, or "" when there is none.
func ALPN() string { return string(inputBytes(abi.InputALPN)) }

// TLSVersion returns the TLS version of the handshake: 0x0303 for TLS 1.2,
// 0x0304 for TLS 1.3 (crypto/tls's VersionTLS12 and VersionTLS13); 0 outside
// fetch and store calls.
func TLSVersion() uint16 { return uint16(inputUint(abi.InputTLSVersion)) }

// Mechanism returns how the client offers (fetch) or will offer (store) the
// session; 0 outside fetch and store calls.
func Mechanism() abi.Mechanism { return abi.Mechanism(inputUint(abi.InputMechanism)) }

// ClientAddr returns the client's address as "ip:port" text.
func ClientAddr() string { return string(inputBytes(abi.InputClientAddr)) }

// GuestConfig returns the tenant's guest configuration: opaque bytes from the
// gateway's config, possibly empty. Every call carries it, tlsgate_on_init
// included, so a guest can parse it once there.
func GuestConfig() []byte { return inputBytes(abi.InputGuestConfig) }

// Call returns which export is running: abi.CallInit, abi.CallFetch or
// abi.CallStore.
func Call() abi.CallKind { return abi.CallKind(inputUint(abi.InputCall)) }

// SessionCreated returns when the session was first created by a full
// handshake, to the second, during a store call; the zero time otherwise.
func SessionCreated() time.Time {
	sec := inputUint(abi.InputSessionCreated)
	if sec == 0 || sec > 1<<62 {
		return time.Time{}
	}
	return time.Unix(int64(sec), 0)
}
