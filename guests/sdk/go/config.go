package guest

import (
	"errors"
	"strings"
	"unicode/utf8"
)

// ConfigField is one key=value field of a guest config.
type ConfigField struct {
	Key, Value string
}

// ParseConfig splits a guest config (GuestConfig) written in the reference
// guests' format (docs/abi.md section 14), e.g. "prefix=s/; max_ttl=1h":
// key=value fields separated by newlines or semicolons; keys and values
// trimmed of ASCII white space; empty fields and fields starting with '#'
// (a comment ends at the next newline or semicolon) skipped. A field without
// '=' is an error naming it, and so is a config that is not valid UTF-8;
// the first '=' ends the key. Fields come back in
// order; what keys mean, and whether unknown ones are errors, is the
// guest's to decide (the reference guests refuse them, and a key given
// twice takes its last value).
func ParseConfig(b []byte) ([]ConfigField, error) {
	if !utf8.Valid(b) {
		return nil, errors.New("config: not valid UTF-8")
	}
	var out []ConfigField
	for _, f := range strings.FieldsFunc(string(b), func(r rune) bool { return r == '\n' || r == ';' }) {
		f = trimASCIISpace(f)
		if f == "" || f[0] == '#' {
			continue
		}
		k, v, ok := strings.Cut(f, "=")
		if !ok {
			return nil, errors.New(`config: "` + f + `" is not key=value`)
		}
		out = append(out, ConfigField{Key: trimASCIISpace(k), Value: trimASCIISpace(v)})
	}
	return out, nil
}

// trimASCIISpace trims space, tab, CR, LF, VT and FF, and nothing else: the
// format is defined on bytes, so that every guest language trims alike.
func trimASCIISpace(s string) string {
	return strings.Trim(s, " \t\r\n\v\f")
}
