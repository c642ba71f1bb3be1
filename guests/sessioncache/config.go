package main

import (
	"errors"
	"strings"

	"github.com/tlsgate/tlsgate/abi"
)

const defaultPrefix = "s/"

// config is the parsed guest config.
type config struct {
	prefix string
}

// parseConfig reads fields of key=value separated by newlines or
// semicolons; blank fields and lines starting with '#' are ignored. An empty
// config gives the defaults.
func parseConfig(b []byte) (config, error) {
	cfg := config{prefix: defaultPrefix}
	fields := strings.FieldsFunc(string(b), func(r rune) bool { return r == '\n' || r == ';' })
	for _, f := range fields {
		f = strings.TrimSpace(f)
		if f == "" || f[0] == '#' {
			continue
		}
		k, v, ok := strings.Cut(f, "=")
		if !ok {
			return config{}, errors.New("config: " + quote(f) + " is not key=value")
		}
		switch k = strings.TrimSpace(k); k {
		case "prefix":
			v = strings.TrimSpace(v)
			if len(v) >= abi.MaxKeyLen-32 {
				return config{}, errors.New("config: prefix is too long")
			}
			cfg.prefix = v
		default:
			return config{}, errors.New("config: unknown key " + quote(k))
		}
	}
	return cfg, nil
}

func quote(s string) string { return `"` + s + `"` }
