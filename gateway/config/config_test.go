package config_test

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/spf13/pflag"

	"github.com/tlsgate/tlsgate/gateway/config"
)

const validYAML = `
data_dir: ./data
listeners:
  - address: 127.0.0.1:8443
sealing:
  keys:
    - id: k1
      key: AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=
tenants:
  - name: a
    server_names: [a.test, "*.a.test"]
    default: true
    certificate: {self_signed: true}
    upstream: builtin
    guest: {module: "builtin:sessioncache"}
  - name: b
    server_names: [b.test]
    certificate: {cert_file: b.crt, key_file: b.key}
    upstream: tcp://127.0.0.1:9000
`

func writeConfig(t *testing.T, body string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "tlsgate.yaml")
	if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestLoadValid(t *testing.T) {
	p := writeConfig(t, validYAML)
	c, err := config.Load(config.Source{File: p})
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	dir := filepath.Dir(p)
	if c.DataDir != filepath.Join(dir, "data") {
		t.Errorf("data_dir = %q, want it relative to the config file", c.DataDir)
	}
	if got := c.Tenants[1].Certificate.CertFile; got != filepath.Join(dir, "b.crt") {
		t.Errorf("cert_file = %q, want it relative to the config file", got)
	}
	if g := c.Tenants[0].Guest; g.FetchDeadline != 50*time.Millisecond || g.MaxInstances != 8 {
		t.Errorf("guest defaults not filled: %+v", g)
	}
	if c.Tenants[0].SessionTTL != 24*time.Hour || c.Admin.Address != "127.0.0.1:9090" {
		t.Errorf("defaults not filled: ttl %v admin %q", c.Tenants[0].SessionTTL, c.Admin.Address)
	}
}

func TestLoadDefaultHasOneWorkingTenant(t *testing.T) {
	c, err := config.Load(config.Source{})
	if err != nil {
		t.Fatal(err)
	}
	if len(c.Tenants) != 1 || c.Tenants[0].Guest.Module != config.BuiltinSessionCache || c.Listeners[0].Address != "127.0.0.1:8443" {
		t.Fatalf("default config = %+v", c)
	}
}

func TestLoadEnvAndFlagsOverride(t *testing.T) {
	p := writeConfig(t, validYAML)
	fs := pflag.NewFlagSet("x", pflag.ContinueOnError)
	fs.String("data-dir", "", "")
	if err := fs.Parse([]string{"--data-dir=/tmp/from-flag"}); err != nil {
		t.Fatal(err)
	}
	c, err := config.Load(config.Source{File: p, Environ: []string{
		"TLSGATE_ADMIN__ADDRESS=127.0.0.1:9999", "TLSGATE_DATA_DIR=/tmp/from-env", "OTHER=1",
	}, Flags: fs})
	if err != nil {
		t.Fatal(err)
	}
	if c.Admin.Address != "127.0.0.1:9999" {
		t.Errorf("admin.address = %q, want the env override", c.Admin.Address)
	}
	if c.DataDir != "/tmp/from-flag" {
		t.Errorf("data_dir = %q, want the flag to win over env and file", c.DataDir)
	}
}

func TestLoadInvalid(t *testing.T) {
	tests := []struct {
		name    string
		edit    func(string) string
		wantErr string
	}{
		{"bad upstream scheme", func(s string) string { return strings.Replace(s, "tcp://127.0.0.1:9000", "ftp://x", 1) },
			`tenants[1].upstream: scheme "ftp" is not supported`},
		{"tcp upstream without port", func(s string) string { return strings.Replace(s, "tcp://127.0.0.1:9000", "tcp://127.0.0.1", 1) },
			`tenants[1].upstream: "127.0.0.1" is not host:port`},
		{"bad tenant name", func(s string) string { return strings.Replace(s, "name: b", "name: b/c", 1) },
			`tenants[1].name: "b/c" must be 1-64 of [A-Za-z0-9_-]`},
		{"duplicate tenant", func(s string) string { return strings.Replace(s, "name: b", "name: a", 1) },
			`tenants[1].name: "a" is also the name of tenants[0]`},
		{"duplicate sni", func(s string) string { return strings.Replace(s, "[b.test]", "[a.test]", 1) },
			`tenants[1].server_names[0]: "a.test" is also served by tenants[0].server_names[0]`},
		{"bad wildcard", func(s string) string { return strings.Replace(s, `"*.a.test"`, `"a.*.test"`, 1) },
			`tenants[0].server_names[1]: "a.*.test" is not a DNS name`},
		{"ip as sni", func(s string) string { return strings.Replace(s, "[b.test]", "[10.0.0.1]", 1) },
			`tenants[1].server_names[0]: "10.0.0.1" is an IP address`},
		{"missing key file", func(s string) string { return strings.Replace(s, ", key_file: b.key", "", 1) },
			`tenants[1].certificate: needs cert_file and key_file`},
		{"named certificate called default", func(s string) string {
			return strings.Replace(s, "key_file: b.key}", "key_file: b.key}\n    certificates: [{name: default, self_signed: true}]", 1)
		}, `tenants[1].certificates[0].name: "default" names the tenant's certificate`},
		{"two certificates of one name", func(s string) string {
			return strings.Replace(s, "key_file: b.key}", "key_file: b.key}\n    certificates: [{name: rsa, cert_file: r.crt, key_file: r.key}, {name: rsa, self_signed: true}]", 1)
		}, `tenants[1].certificates[1].name: "rsa" is also tenants[1].certificates[0]'s name`},
		{"named certificate without its key", func(s string) string {
			return strings.Replace(s, "key_file: b.key}", "key_file: b.key}\n    certificates: [{name: rsa, cert_file: r.crt}]", 1)
		}, `tenants[1].certificates[0]: needs cert_file and key_file`},
		{"named certificate of an unknown key type", func(s string) string {
			return strings.Replace(s, "key_file: b.key}", "key_file: b.key}\n    certificates: [{name: dsa, self_signed: true, key_type: dsa}]", 1)
		}, `tenants[1].certificates[0].key_type: "dsa" is not one of ecdsa, rsa`},
		{"short sealing key", func(s string) string {
			return strings.Replace(s, "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=", "AAEC", 1)
		},
			`sealing.keys[0].key: decodes to 3 bytes, want 32`},
		{"two listeners on one port", func(s string) string {
			return strings.Replace(s, "  - address: 127.0.0.1:8443", "  - address: 127.0.0.1:8443\n  - address: localhost:8443", 1)
		},
			`listeners[1].address: "localhost:8443" binds the same port as listeners[0].address ("127.0.0.1:8443")`},
		{"admin on a listener's port", func(s string) string { return s + "admin: {address: \"0.0.0.0:8443\"}\n" },
			`admin.address: "0.0.0.0:8443" binds the same port as listeners[0].address`},
		{"embedded nats on a listener's port", func(s string) string { return s + "nats: {embedded: {listen: \"127.0.0.1:8443\"}}\n" },
			`nats.embedded.listen: "127.0.0.1:8443" binds the same port as listeners[0].address`},
		{"published sealing key", func(s string) string {
			return strings.Replace(s, "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=", "IrVmikA7dx03rpf6/HrKwydV4MuYmMWPmjZjwPAMJPg=", 1)
		},
			`sealing.keys[0].key: is public (it was published in examples/fleet`},
		{"embedded nats on every interface without tls", func(s string) string { return s + "nats: {embedded: {listen: \"0.0.0.0:4222\"}}\n" },
			`nats.embedded.listen: "0.0.0.0:4222" is reachable from other machines: give nats.embedded.tls`},
		{"embedded nats on an empty host without tls", func(s string) string { return s + "nats: {embedded: {listen: \":4222\"}}\n" },
			`nats.embedded.listen: ":4222" is reachable from other machines`},
		{"embedded nats tls without listen", func(s string) string { return s + "nats: {embedded: {tls: {cert_file: n.crt, key_file: n.key}}}\n" },
			`nats.embedded: tls and users need a client port`},
		{"embedded nats user with a bad key", func(s string) string {
			return s + "nats: {embedded: {listen: \"127.0.0.1:4222\", users: [{nkey: UABC, role: gateway}]}}\n"
		},
			`nats.embedded.users[0].nkey: "UABC" is not an NKey user public key`},
		{"embedded nats user with a bad role", func(s string) string {
			return s + "nats: {embedded: {listen: \"127.0.0.1:4222\", users: [{nkey: UDXU4RCSJNZOIQHZNWXHXORDPRTGNJAHAHFRGZNEEJCPQTT2M7NLCNF4, role: admin}]}}\n"
		},
			`nats.embedded.users[0].role: "admin" is not one of gateway, deployer`},
		{"acme with a certificate file", func(s string) string {
			return strings.Replace(s, "certificate: {cert_file: b.crt, key_file: b.key}", "certificate: {cert_file: b.crt, key_file: b.key, acme: {}}", 1)
		},
			`tenants[1].certificate: acme excludes self_signed, cert_file, key_file and nats`},
		{"acme for a wildcard name", func(s string) string {
			return strings.Replace(s, "certificate: {self_signed: true}", "certificate: {acme: {email: ops@a.test}}", 1)
		},
			`"*.a.test": a wildcard certificate needs dns-01 (certificate.acme.dns), or certificate.acme.on_demand for a certificate per name`},
		{"acme unknown challenge", func(s string) string {
			return strings.Replace(s, "certificate: {cert_file: b.crt, key_file: b.key}", "certificate: {acme: {challenges: [http-01, tls-sni-01]}}", 1)
		},
			`tenants[1].certificate.acme.challenges[1]: "tls-sni-01" is not one of tls-alpn-01, http-01, dns-01`},
		{"acme dns-01 without a provider", func(s string) string {
			return strings.Replace(s, "certificate: {cert_file: b.crt, key_file: b.key}", "certificate: {acme: {challenges: [dns-01]}}", 1)
		},
			`tenants[1].certificate.acme.challenges[0]: dns-01 needs certificate.acme.dns (its provider)`},
		{"acme dns without dns-01", func(s string) string {
			return strings.Replace(s, "certificate: {cert_file: b.crt, key_file: b.key}", "certificate: {acme: {challenges: [http-01], dns: {provider: x}}}", 1)
		},
			`tenants[1].certificate.acme.dns: is set but challenges does not list dns-01`},
		{"acme dns bad resolver", func(s string) string {
			return strings.Replace(s, "certificate: {cert_file: b.crt, key_file: b.key}", "certificate: {acme: {dns: {provider: x, resolvers: [\"8.8.8.8\"]}}}", 1)
		},
			`tenants[1].certificate.acme.dns.resolvers[0]: "8.8.8.8" is not host:port`},
		{"bad http listener", func(s string) string { return s + "http: {address: \"80\"}\n" },
			`http.address: "80" is not host:port`},
		{"on-demand without an allow list", func(s string) string {
			return strings.Replace(s, "certificate: {self_signed: true}", "certificate: {acme: {on_demand: {per_minute: 5}}}", 1)
		},
			`tenants[0].certificate.acme.on_demand.allow: lists the names that may be issued on demand: required`},
		{"acme ca not https", func(s string) string {
			return strings.Replace(s, "certificate: {cert_file: b.crt, key_file: b.key}", "certificate: {acme: {ca: \"http://ca.test/dir\"}}", 1)
		},
			`tenants[1].certificate.acme.ca: "http://ca.test/dir" is not an https:// ACME directory URL`},
		{"acme bad email", func(s string) string {
			return strings.Replace(s, "certificate: {cert_file: b.crt, key_file: b.key}", "certificate: {acme: {email: ops}}", 1)
		},
			`tenants[1].certificate.acme.email: "ops" is not an email address`},
		{"nkey file without url", func(s string) string { return s + "nats: {nkey_file: gw.nk}\n" },
			`nats.nkey_file: needs nats.url`},
		{"bad listener", func(s string) string { return strings.Replace(s, "127.0.0.1:8443", "127.0.0.1", 1) },
			`listeners[0].address: "127.0.0.1" is not host:port`},
		{"client-hello guest without a module", func(s string) string {
			return strings.Replace(s, "  - address: 127.0.0.1:8443", "  - address: 127.0.0.1:8443\n    client_hello: {deadline: 2s}", 1)
		},
			`listeners[0].client_hello.module: must name a .wasm file or nats:<name>`},
		{"client-hello guest deadline", func(s string) string {
			return strings.Replace(s, "  - address: 127.0.0.1:8443", "  - address: 127.0.0.1:8443\n    client_hello: {module: h.wasm, deadline: 2s}", 1)
		},
			`listeners[0].client_hello.deadline: 2s is out of range (0, 1s]`},
		{"two client-hello guests in one namespace", func(s string) string {
			return strings.Replace(s, "  - address: 127.0.0.1:8443",
				"  - address: 127.0.0.1:8443\n    client_hello: {module: h.wasm}\n  - address: 127.0.0.1:8443\n    client_hello: {module: h.wasm}", 1)
		},
			`listeners[1].client_hello: its key-value namespace "127_0_0_1_8443" is also listeners[0]'s`},
		{"ttl over 7 days", func(s string) string {
			return strings.Replace(s, "upstream: builtin", "upstream: builtin\n    session_ttl: 200h", 1)
		},
			`tenants[0].session_ttl: 200h0m0s is out of range (0, 168h]`},
		{"bad duration", func(s string) string {
			return strings.Replace(s, "upstream: builtin", "upstream: builtin\n    session_ttl: soon", 1)
		},
			`session_ttl`},
		{"unknown builtin guest", func(s string) string { return strings.Replace(s, "builtin:sessioncache", "builtin:nope", 1) },
			`tenants[0].guest.module: "builtin:nope": the built-in guests are builtin:sessioncache and builtin:sessioncache-go`},
		{"bad deployed module name", func(s string) string { return strings.Replace(s, "builtin:sessioncache", "nats:a/b", 1) },
			`tenants[0].guest.module: "nats:a/b": a deployed module is nats:<name>`},
		{"zero fetch deadline", func(s string) string {
			return strings.Replace(s, `guest: {module: "builtin:sessioncache"}`, `guest: {module: x.wasm, fetch_deadline: -1s}`, 1)
		},
			`tenants[0].guest.fetch_deadline: -1s is out of range (0, 10s]`},
		{"two defaults", func(s string) string {
			return strings.Replace(s, "upstream: tcp://", "default: true\n    upstream: tcp://", 1)
		},
			`tenants[1].default: only one tenant may be the default`},
		{"unknown field", func(s string) string {
			return strings.Replace(s, "upstream: builtin", "upstream: builtin\n    upstraem: x", 1)
		},
			`upstraem`},
		{"nats scheme", func(s string) string { return s + "nats: {url: http://127.0.0.1:4222}\n" },
			`nats.url: scheme "http" is not supported (want nats:// or tls://)`},
		{"nats storage", func(s string) string { return s + "nats: {storage: disk}\n" },
			`nats.storage: "disk" is not one of file, memory`},
		{"listener names unknown tenant", func(s string) string {
			return strings.Replace(s, "- address: 127.0.0.1:8443", "- address: 127.0.0.1:8443\n    tenants: [zz]", 1)
		},
			`listeners[0].tenants[0]: no tenant named "zz"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := config.Load(config.Source{File: writeConfig(t, tt.edit(validYAML))})
			if err == nil {
				t.Fatal("Load accepted an invalid config")
			}
			if !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("error = %q\nwant it to contain %q", err, tt.wantErr)
			}
		})
	}
}

func TestValidateJoinsAllProblems(t *testing.T) {
	c := config.Config{}
	c.FillDefaults()
	c.Tenants = []config.Tenant{{Name: "", Upstream: ""}}
	c.FillDefaults()
	err := c.Validate()
	var fe *config.FieldError
	if !errors.As(err, &fe) || !errors.Is(err, config.ErrInvalid) {
		t.Fatalf("err = %v, want FieldErrors wrapping ErrInvalid", err)
	}
	for _, want := range []string{"tenants[0].name", "tenants[0].upstream", "tenants[0].certificate", "tenants[0].server_names"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("missing %s in %v", want, err)
		}
	}
}

// Every sealing key shown in the repository's examples and docs is public,
// so the gateway must refuse to seal with it.
func TestKeysShownInExamplesAreRefused(t *testing.T) {
	keyRE := regexp.MustCompile(`key: *"?([A-Za-z0-9+/]{43}=)`)
	found := 0
	for _, root := range []string{"../../examples", "../../docs", "../../README.md"} {
		err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
			if err != nil || d.IsDir() {
				return err
			}
			b, err := os.ReadFile(path)
			if err != nil {
				return err
			}
			for _, m := range keyRE.FindAllSubmatch(b, -1) {
				found++
				c := config.Config{Sealing: config.Sealing{Keys: []config.SealingKey{{ID: "k", Key: string(m[1])}}}}
				if err := c.Validate(); err == nil || !strings.Contains(err.Error(), "is public") {
					t.Errorf("%s shows sealing key %s, which Validate does not refuse as public", path, m[1])
				}
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	t.Logf("%d keys shown in examples and docs", found)
	old := config.Config{Sealing: config.Sealing{Keys: []config.SealingKey{{ID: "k", Key: "IrVmikA7dx03rpf6/HrKwydV4MuYmMWPmjZjwPAMJPg="}}}}
	if err := old.Validate(); err == nil || !strings.Contains(err.Error(), "sealing.keys[0].key: is public") {
		t.Errorf("the key once published in examples/fleet is not refused: %v", err)
	}
}

// A leading ~ in a path is the home directory, as the docs show it, not a
// directory named "~" beside the config file.
func TestLoadExpandsHome(t *testing.T) {
	home := t.TempDir()
	t.Setenv("HOME", home)
	p := writeConfig(t, strings.Replace(strings.Replace(validYAML, "data_dir: ./data", "data_dir: ~/tg", 1),
		"sealing:\n", "sealing:\n  keys_file: \"~/keys.yaml\"\n", 1))
	c, err := config.Load(config.Source{File: p})
	if err != nil {
		t.Fatal(err)
	}
	if c.DataDir != filepath.Join(home, "tg") {
		t.Errorf("data_dir = %q, want %q", c.DataDir, filepath.Join(home, "tg"))
	}
	if c.Sealing.KeysFile != filepath.Join(home, "keys.yaml") {
		t.Errorf("sealing.keys_file = %q, want it under the home directory", c.Sealing.KeysFile)
	}
	if c.Wasm.CacheDir != filepath.Join(home, "tg", "wasm-cache") {
		t.Errorf("wasm.cache_dir = %q, want it under the expanded data_dir", c.Wasm.CacheDir)
	}
}

// TestDurationsNeedAUnit: a bare number for a duration is refused with its
// field path, from the file and from the environment; 0 (the default) and
// durations with a unit are not.
func TestDurationsNeedAUnit(t *testing.T) {
	file := filepath.Join(t.TempDir(), "tlsgate.yaml")
	os.WriteFile(file, []byte("handshake_timeout: 24\ntenants:\n  - {name: a, server_names: [a.test], certificate: {self_signed: true}, upstream: builtin, session_ttl: 0}\n"), 0o600)
	_, err := config.Load(config.Source{File: file})
	if err == nil || !strings.Contains(err.Error(), file+":1: handshake_timeout: 24 is a number without a unit") {
		t.Errorf("a bare number in the file: %v", err)
	}
	_, err = config.Load(config.Source{Environ: []string{"TLSGATE_SHUTDOWN_TIMEOUT=15"}})
	if err == nil || !strings.Contains(err.Error(), `shutdown_timeout: "15" is a number without a unit`) {
		t.Errorf("a bare number in the environment: %v", err)
	}
	c, err := config.Load(config.Source{Environ: []string{"TLSGATE_SHUTDOWN_TIMEOUT=15s"}})
	if err != nil || c.ShutdownTimeout != 15*time.Second {
		t.Errorf("a duration with a unit: %v, %v", c, err)
	}
}
