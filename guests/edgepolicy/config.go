package main

import (
	"errors"
	"strings"

	guest "github.com/tlsgate/tlsgate/guests/sdk/go"
)

// config is edgepolicy's parsed guest config.
type config struct {
	// denyJA4 are fingerprints refused whatever the key-value store says.
	denyJA4 map[string]bool
	// kvDeny looks each fingerprint up under "ja4/<fingerprint>" in the
	// listener's namespace: a key present refuses it.
	kvDeny bool
	// certs maps a server name ("shop.example.com", or "*.example.com" for
	// one label under it) to the certificate to present.
	certs map[string]string
}

// parseConfig reads the reference guests' key=value fields (guest.ParseConfig):
//
//	deny_ja4=<fp>[,<fp>...]      fingerprints always refused
//	kv_deny=true|false           look fingerprints up in KV (default true)
//	cert.<server name>=<name>    present certificate <name> for that SNI
//
// Unknown keys and malformed values are errors.
func parseConfig(b []byte) (config, error) {
	cfg := config{denyJA4: map[string]bool{}, kvDeny: true, certs: map[string]string{}}
	fields, err := guest.ParseConfig(b)
	if err != nil {
		return config{}, err
	}
	for _, f := range fields {
		switch k, v := f.Key, f.Value; {
		case k == "deny_ja4":
			for _, fp := range strings.Split(v, ",") {
				if fp = strings.TrimSpace(fp); fp != "" {
					cfg.denyJA4[fp] = true
				}
			}
		case k == "kv_deny":
			switch v {
			case "true":
				cfg.kvDeny = true
			case "false":
				cfg.kvDeny = false
			default:
				return config{}, errors.New(`config: kv_deny="` + v + `": want true or false`)
			}
		case strings.HasPrefix(k, "cert."):
			name := strings.ToLower(strings.TrimPrefix(k, "cert."))
			if name == "" || v == "" {
				return config{}, errors.New(`config: "` + k + `=` + v + `": want cert.<server name>=<certificate name>`)
			}
			cfg.certs[name] = v
		default:
			return config{}, errors.New(`config: unknown key "` + k + `"`)
		}
	}
	return cfg, nil
}

// certFor returns the certificate configured for sni: its exact name, then
// a wildcard one label up; "" for none.
func (c *config) certFor(sni string) string {
	sni = strings.ToLower(sni)
	if n, ok := c.certs[sni]; ok {
		return n
	}
	if _, rest, ok := strings.Cut(sni, "."); ok {
		return c.certs["*."+rest]
	}
	return ""
}
