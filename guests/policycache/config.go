package main

import (
	"errors"
	"strings"
	"time"

	"github.com/tlsgate/tlsgate/abi"
	guest "github.com/tlsgate/tlsgate/guests/sdk/go"
)

// Defaults of the policy; an empty guest config gives exactly these.
const (
	defaultPrefix = "p/"
	// defaultMaxTTL of 0 means no cap: the gateway's TTL input is used as is.
	defaultMaxTTL = 0
)

// TLS versions as the InputTLSVersion input carries them.
const (
	versionTLS12 = 0x0303
	versionTLS13 = 0x0304
)

// policy is the parsed guest config of one tenant.
type policy struct {
	// prefix is prepended to the session identifier to make the KV key.
	prefix string
	// maxTTL caps the TTL of every stored session; 0 keeps the TTL input.
	maxTTL time.Duration
	// minVersion is the lowest TLS version whose sessions are cached.
	minVersion uint16
}

// ttl returns how long to keep a session the gateway asks to keep for
// requested: min(requested, maxTTL) when a cap is set.
func (p policy) ttl(requested time.Duration) time.Duration {
	if p.maxTTL > 0 && (requested <= 0 || requested > p.maxTTL) {
		return p.maxTTL
	}
	return requested
}

// allows reports whether sessions of TLS version v are cached.
func (p policy) allows(v uint16) bool { return v >= p.minVersion }

// parsePolicy reads fields of key=value separated by newlines or semicolons;
// blank fields and fields starting with '#' are ignored. Keys:
//
//	prefix=<p>          KV key prefix (default "p/")
//	max_ttl=<duration>  Go duration capping every TTL, e.g. 1h (default: no cap)
//	tls13_only=<bool>   cache TLS 1.3 sessions only (default false)
func parsePolicy(b []byte) (policy, error) {
	p := policy{prefix: defaultPrefix, maxTTL: defaultMaxTTL, minVersion: versionTLS12}
	fields, err := guest.ParseConfig(b)
	if err != nil {
		return policy{}, err
	}
	for _, f := range fields {
		k, v := f.Key, f.Value
		switch k {
		case "prefix":
			if len(v) >= abi.MaxKeyLen-32 {
				return policy{}, errors.New("config: prefix is too long")
			}
			p.prefix = v
		case "max_ttl":
			d, err := time.ParseDuration(v)
			if err != nil || d < 0 || strings.HasPrefix(v, "+") || strings.HasPrefix(v, "-") { // no sign: docs/abi.md section 14
				return policy{}, errors.New("config: max_ttl " + quote(v) + " is not a non-negative duration such as 1h or 90s")
			}
			p.maxTTL = d
		case "tls13_only":
			switch v {
			case "true":
				p.minVersion = versionTLS13
			case "false":
				p.minVersion = versionTLS12
			default:
				return policy{}, errors.New("config: tls13_only " + quote(v) + " is not true or false")
			}
		default:
			return policy{}, errors.New("config: unknown key " + quote(k))
		}
	}
	return p, nil
}

func quote(s string) string { return `"` + s + `"` }
