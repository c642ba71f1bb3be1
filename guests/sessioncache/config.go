package main

import (
	"errors"

	"github.com/tlsgate/tlsgate/abi"
	guest "github.com/tlsgate/tlsgate/guests/sdk/go"
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
	fields, err := guest.ParseConfig(b)
	if err != nil {
		return config{}, err
	}
	for _, f := range fields {
		k, v := f.Key, f.Value
		switch k {
		case "prefix":
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
