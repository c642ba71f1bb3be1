package gateway

import (
	"bytes"
	"encoding/binary"
	"errors"
	"strings"
	"time"
)

// bindingTag starts tlsgate's entry in tls.SessionState.Extra. Other layers
// may append their own entries; ours is found by this prefix.
var bindingTag = []byte("tlsgate/binding/1\x00")

// binding is what a session is bound to (RFC 6066 s3: never resume under
// another SNI) and when it was first created (for lifetime clamping: TLS 1.3
// re-issues tickets with a fresh creation time).
type binding struct {
	Tenant     string
	ServerName string
	ALPN       string
	Created    time.Time
}

var errNoBinding = errors.New("gateway: session carries no tlsgate binding")

func (b binding) encode() []byte {
	out := make([]byte, 0, len(bindingTag)+6+len(b.Tenant)+len(b.ServerName)+len(b.ALPN)+8)
	out = append(out, bindingTag...)
	for _, s := range []string{b.Tenant, b.ServerName, b.ALPN} {
		out = binary.BigEndian.AppendUint16(out, uint16(len(s)))
		out = append(out, s...)
	}
	return binary.BigEndian.AppendUint64(out, uint64(b.Created.Unix()))
}

func decodeBinding(e []byte) (binding, bool) {
	if !bytes.HasPrefix(e, bindingTag) {
		return binding{}, false
	}
	e = e[len(bindingTag):]
	var fields [3]string
	for i := range fields {
		if len(e) < 2 {
			return binding{}, false
		}
		n := int(binary.BigEndian.Uint16(e))
		if len(e) < 2+n {
			return binding{}, false
		}
		fields[i], e = string(e[2:2+n]), e[2+n:]
	}
	if len(e) != 8 {
		return binding{}, false
	}
	return binding{
		Tenant: fields[0], ServerName: fields[1], ALPN: fields[2],
		Created: time.Unix(int64(binary.BigEndian.Uint64(e)), 0),
	}, true
}

// withBinding returns extra without any earlier tlsgate entry, plus b.
func withBinding(extra [][]byte, b binding) [][]byte {
	out := make([][]byte, 0, len(extra)+1)
	for _, e := range extra {
		if !bytes.HasPrefix(e, bindingTag) {
			out = append(out, e)
		}
	}
	return append(out, b.encode())
}

// findBinding returns the session's tlsgate entry.
func findBinding(extra [][]byte) (binding, error) {
	for _, e := range extra {
		if b, ok := decodeBinding(e); ok {
			return b, nil
		}
	}
	return binding{}, errNoBinding
}

// matches reports whether a session bound to b may resume on a connection
// bound to want. Server names compare case-insensitively.
func (b binding) matches(want binding) bool {
	return b.Tenant == want.Tenant && strings.EqualFold(b.ServerName, want.ServerName) && b.ALPN == want.ALPN
}
