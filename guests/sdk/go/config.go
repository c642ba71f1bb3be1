package guest

import (
	"errors"
	"strings"
)

// ConfigField is one key=value field of a guest config.
type ConfigField struct {
	Key, Value string
}

// ParseConfig splits a guest config (GuestConfig) written as key=value
// fields separated by newlines or semicolons, the convention of the guests
// shipped with tlsgate, e.g. "prefix=s/; max_ttl=1h". Keys and values are
// trimmed; blank fields and fields starting with '#' are skipped. A field
// without '=' is an error naming it. Fields come back in order; what keys
// mean, and whether unknown ones are errors, is the guest's to decide.
func ParseConfig(b []byte) ([]ConfigField, error) {
	var out []ConfigField
	for _, f := range strings.FieldsFunc(string(b), func(r rune) bool { return r == '\n' || r == ';' }) {
		f = strings.TrimSpace(f)
		if f == "" || f[0] == '#' {
			continue
		}
		k, v, ok := strings.Cut(f, "=")
		if !ok {
			return nil, errors.New(`config: "` + f + `" is not key=value`)
		}
		out = append(out, ConfigField{Key: strings.TrimSpace(k), Value: strings.TrimSpace(v)})
	}
	return out, nil
}
