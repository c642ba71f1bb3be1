package config

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/knadh/koanf/providers/env/v2"
	"github.com/knadh/koanf/providers/posflag"
	"github.com/knadh/koanf/v2"
	"github.com/spf13/pflag"
)

// EnvPrefix prefixes environment overrides. A double underscore separates
// levels: TLSGATE_NATS__URL sets nats.url, TLSGATE_DATA_DIR sets data_dir.
const EnvPrefix = "TLSGATE_"

// Source says where configuration comes from. All fields are optional.
type Source struct {
	// File is a YAML config file; empty means the built-in default
	// (one tenant on 127.0.0.1:8443 with the reference guest).
	File string
	// Environ is the environment (os.Environ() form); nil means none.
	Environ []string
	// Flags are command-line flags whose koanf key is their name with '-'
	// replaced by '_' (e.g. --data-dir sets data_dir); only changed flags count.
	Flags *pflag.FlagSet
}

// Load reads the file, then the environment, then flags, in one pass,
// fills defaults and validates. Every problem found is reported, joined,
// each naming its field path (and the file and line where it is written);
// a YAML syntax error alone stops it early. With an error the Config
// returned, if any, is what could be read: for reporting more problems
// (CheckFiles), never for serving.
func Load(src Source) (*Config, error) {
	k := koanf.New(".") // defaults are filled after decoding, by FillDefaults
	var d *doc
	if src.File != "" {
		data, err := os.ReadFile(src.File)
		if err != nil {
			return nil, fmt.Errorf("config: %w", err)
		}
		if d, err = loadYAML(k, src.File, data); err != nil {
			return nil, fmt.Errorf("config: %w", err)
		}
	}
	if src.Environ != nil {
		e := env.Provider(".", env.Opt{
			Prefix:        EnvPrefix,
			EnvironFunc:   func() []string { return src.Environ },
			TransformFunc: envKey,
		})
		if err := k.Load(e, nil); err != nil {
			return nil, fmt.Errorf("config: environment: %w", err)
		}
	}
	if src.Flags != nil {
		p := posflag.ProviderWithFlag(src.Flags, ".", k, func(f *pflag.Flag) (string, any) {
			if !f.Changed {
				return "", nil
			}
			return strings.ReplaceAll(f.Name, "-", "_"), posflag.FlagVal(src.Flags, f)
		})
		if err := k.Load(p, nil); err != nil {
			return nil, fmt.Errorf("config: flags: %w", err)
		}
	}
	// Every problem, of every step, is reported together.
	var c Config
	errs := decode(k.Raw(), &c, "")
	if src.File == "" && len(c.Tenants) == 0 {
		c.Tenants = []Tenant{DefaultTenant()}
	}
	base := ""
	if src.File != "" {
		abs, err := filepath.Abs(src.File)
		if err != nil {
			return nil, fmt.Errorf("config: %w", err)
		}
		base = filepath.Dir(abs)
	}
	c.resolvePaths(base)
	if c.TenantsDir != "" {
		more, err := loadTenantsDir(c.TenantsDir)
		errs = append(errs, unjoin(err)...)
		c.Tenants = append(c.Tenants, more...)
	}
	c.FillDefaults()
	errs = append(errs, unjoin(c.Validate())...)
	d.place(errs, false)
	if len(errs) > 0 {
		return &c, errors.Join(sortByLine(errs)...)
	}
	return &c, nil
}

// Annotate adds the problems of more (found outside Load, such as
// certificates that do not load) to err, Load's, places those whose fields
// are in the YAML file (its name and their lines), and orders them all by
// line.
func Annotate(file string, err error, more ...error) error {
	errs := append(unjoin(err), more...)
	if file != "" {
		if data, err := os.ReadFile(file); err == nil {
			if d, err := loadYAML(koanf.New("."), file, data); err == nil {
				d.place(errs, false)
			}
		}
	}
	return errors.Join(sortByLine(errs)...)
}

// sortByLine orders errs by file and line, those without a line last, in
// their order.
func sortByLine(errs []error) []error {
	key := func(err error) (string, int) {
		var fe *FieldError
		if errors.As(err, &fe) && fe.Line > 0 {
			return fe.File, fe.Line
		}
		return "\xff", 0
	}
	slices.SortStableFunc(errs, func(a, b error) int {
		fa, la := key(a)
		fb, lb := key(b)
		if c := strings.Compare(fa, fb); c != 0 {
			return c
		}
		return la - lb
	})
	return errs
}

// unjoin is the errors of a joined error (nil: none).
func unjoin(err error) []error {
	if err == nil {
		return nil
	}
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		return j.Unwrap()
	}
	return []error{err}
}

// envKey maps TLSGATE_NATS__URL to nats.url.
func envKey(k, v string) (string, any) {
	k = strings.ToLower(strings.TrimPrefix(k, EnvPrefix))
	return strings.ReplaceAll(k, "__", "."), v
}

// DefaultDataDir is $XDG_DATA_HOME/tlsgate or ~/.local/share/tlsgate.
func DefaultDataDir() string {
	if x := os.Getenv("XDG_DATA_HOME"); x != "" {
		return filepath.Join(x, "tlsgate")
	}
	home, err := os.UserHomeDir()
	if err != nil {
		return filepath.Join(os.TempDir(), "tlsgate")
	}
	return filepath.Join(home, ".local", "share", "tlsgate")
}

// DefaultTenant is the tenant of the built-in default configuration: SNI
// localhost (and no SNI), a generated self-signed certificate, the
// reference session-cache guest and the built-in upstream page.
func DefaultTenant() Tenant {
	return Tenant{
		Name:        "default",
		ServerNames: []string{"localhost"},
		Default:     true,
		Certificate: Certificate{SelfSigned: true},
		Upstream:    BuiltinUpstream,
		Guest:       &Guest{Module: BuiltinSessionCache},
	}
}

// FillDefaults sets every zero field that has a documented default.
// Load calls it; call it yourself on a Config built in code.
func (c *Config) FillDefaults() {
	if c.DataDir == "" {
		c.DataDir = DefaultDataDir()
	}
	if len(c.Listeners) == 0 {
		c.Listeners = []Listener{{Address: "127.0.0.1:8443"}}
	}
	for _, l := range c.Listeners {
		if h := l.ClientHello; h != nil {
			if h.Deadline == 0 {
				h.Deadline = 20 * time.Millisecond
			}
			if h.MaxInstances == 0 {
				h.MaxInstances = 4
			}
		}
	}
	if c.Admin.Address == "" {
		c.Admin.Address = "127.0.0.1:9090"
	}
	l := &c.Limits
	for _, d := range []struct {
		v   *int
		def int
	}{{&l.MaxConnections, 10000}, {&l.MaxConnectionsPerClient, 256}, {&l.MaxRequestsPerClient, 128},
		{&l.MaxStreamsPerConnection, 100}, {&l.MaxUpstreamConnections, 1024}} {
		if *d.v == 0 {
			*d.v = d.def
		}
	}
	for _, d := range []struct {
		v   *time.Duration
		def time.Duration
	}{{&l.RequestHeaderTimeout, 10 * time.Second}, {&l.RequestReadTimeout, time.Minute},
		{&l.IdleTimeout, 2 * time.Minute}, {&l.UpstreamResponseTimeout, time.Minute}} {
		if *d.v == 0 {
			*d.v = d.def
		}
	}
	if c.NATS.Storage == "" {
		c.NATS.Storage = "file"
	}
	if c.NATS.Replicas == 0 {
		c.NATS.Replicas = 1
	}
	if c.NATS.NearCacheMB == 0 {
		c.NATS.NearCacheMB = 64
	}
	if c.NATS.Embedded.GatewayNkeyFile == "" {
		c.NATS.Embedded.GatewayNkeyFile = filepath.Join(c.DataDir, "nats-gateway.nk")
	}
	if c.NATS.Embedded.DeployerNkeyFile == "" {
		c.NATS.Embedded.DeployerNkeyFile = filepath.Join(c.DataDir, "nats-deployer.nk")
	}
	if c.Sealing.KeysFile == "" {
		c.Sealing.KeysFile = filepath.Join(c.DataDir, "sealing-keys.yaml")
	}
	if c.StoreQueue.Size == 0 {
		c.StoreQueue.Size = 4096
	}
	if c.StoreQueue.Workers == 0 {
		c.StoreQueue.Workers = 2
	}
	if c.StoreQueue.PerTenant == 0 {
		c.StoreQueue.PerTenant = 1024
	}
	if c.StoreQueue.MaxAge == 0 {
		c.StoreQueue.MaxAge = 5 * time.Second
	}
	if c.Wasm.CacheDir == "" {
		c.Wasm.CacheDir = filepath.Join(c.DataDir, "wasm-cache")
	}
	if c.Wasm.MemoryLimitMB == 0 {
		c.Wasm.MemoryLimitMB = 64
	}
	if c.Wasm.MemoryBudgetMB == 0 {
		c.Wasm.MemoryBudgetMB = 1024
	}
	if c.Wasm.MaxInstances == 0 {
		c.Wasm.MaxInstances = 4096
	}
	if c.HandshakeTimeout == 0 {
		c.HandshakeTimeout = 10 * time.Second
	}
	if c.ShutdownTimeout == 0 {
		c.ShutdownTimeout = 15 * time.Second
	}
	for i := range c.Tenants {
		c.Tenants[i].FillDefaults()
	}
}

// FillDefaults sets every zero field of the tenant that has a documented
// default.
func (t *Tenant) FillDefaults() {
	if t.SessionTTL == 0 {
		t.SessionTTL = 24 * time.Hour
	}
	if t.MinVersion == "" {
		t.MinVersion = "1.2"
	}
	if t.Certificate.SelfSigned && t.Certificate.KeyType == "" {
		t.Certificate.KeyType = "ecdsa"
	}
	if a := t.Certificate.ACME; a != nil {
		if a.CA == "" {
			a.CA = DefaultACMECA
		}
		if o := a.OnDemand; o != nil {
			if o.PerMinute == 0 {
				o.PerMinute = 10
			}
			if o.Burst == 0 {
				o.Burst = 5
			}
		}
		if d := a.DNS; d != nil && d.PropagationTimeout == 0 {
			d.PropagationTimeout = 2 * time.Minute
		}
	}
	for i := range t.Certificates {
		if c := &t.Certificates[i].Certificate; c.SelfSigned && c.KeyType == "" {
			c.KeyType = "ecdsa"
		}
	}
	g := t.Guest
	if g == nil {
		return
	}
	for _, d := range []struct {
		v   *int
		def int
	}{{&g.MaxInstances, 8}, {&g.SuspendAfterFaults, 5}, {&g.KVWriteBytesPerCall, 1 << 20}, {&g.KVWriteBytesPerSecond, 8 << 20}} {
		if *d.v == 0 {
			*d.v = d.def
		}
	}
	for _, d := range []struct {
		v   *time.Duration
		def time.Duration
	}{{&g.FetchDeadline, 50 * time.Millisecond}, {&g.StoreDeadline, 500 * time.Millisecond},
		{&g.CertificateDeadline, 20 * time.Millisecond}, {&g.CPUBudget, 500 * time.Millisecond}} {
		if *d.v == 0 {
			*d.v = d.def
		}
	}
	if g.KVMaxBytes == 0 {
		g.KVMaxBytes = 256 << 20
	}
	if g.KVMaxEntries == 0 {
		g.KVMaxEntries = 1_000_000
	}
}

// pathResolver returns a function that expands a leading "~" or "~/" of
// the path it is given to the home directory, and makes another relative
// path relative to base ("" leaves it relative to the working directory).
func pathResolver(base string) func(*string) {
	home, _ := os.UserHomeDir()
	return func(p *string) {
		switch {
		case *p == "~" && home != "":
			*p = home
		case strings.HasPrefix(*p, "~/") && home != "":
			*p = filepath.Join(home, (*p)[2:])
		case *p != "" && base != "" && !filepath.IsAbs(*p):
			*p = filepath.Join(base, *p)
		}
	}
}

// resolvePaths expands a leading "~" or "~/" to the home directory, and
// makes other relative file paths relative to the config file's directory
// (base; "" leaves them relative to the working directory).
func (c *Config) resolvePaths(base string) {
	abs := pathResolver(base)
	abs(&c.DataDir)
	abs(&c.Sealing.KeysFile)
	abs(&c.NATS.CredsFile)
	abs(&c.NATS.NkeyFile)
	abs(&c.NATS.Embedded.TLS.CertFile)
	abs(&c.NATS.Embedded.TLS.KeyFile)
	abs(&c.NATS.Embedded.TLS.ClientCAFile)
	abs(&c.NATS.Embedded.GatewayNkeyFile)
	abs(&c.NATS.Embedded.DeployerNkeyFile)
	abs(&c.NATS.TLS.CAFile)
	abs(&c.NATS.TLS.CertFile)
	abs(&c.NATS.TLS.KeyFile)
	abs(&c.Wasm.CacheDir)
	abs(&c.TenantsDir)
	for _, l := range c.Listeners {
		if h := l.ClientHello; h != nil && !strings.HasPrefix(h.Module, NATSModulePrefix) {
			abs(&h.Module)
		}
	}
	c.resolveTenantPaths(base)
}

// resolveTenantPaths is resolvePaths for the tenants' files.
func (c *Config) resolveTenantPaths(base string) {
	abs := pathResolver(base)
	for i := range c.Tenants {
		t := &c.Tenants[i]
		abs(&t.Certificate.CertFile)
		abs(&t.Certificate.KeyFile)
		if t.Certificate.ACME != nil {
			abs(&t.Certificate.ACME.CARootFile)
		}
		abs(&t.UpstreamCAFile)
		for j := range t.Certificates {
			abs(&t.Certificates[j].CertFile)
			abs(&t.Certificates[j].KeyFile)
		}
		if t.Guest != nil && !strings.HasPrefix(t.Guest.Module, "builtin:") && !strings.HasPrefix(t.Guest.Module, NATSModulePrefix) {
			abs(&t.Guest.Module)
		}
	}
}

// ErrInvalid is wrapped by every validation error, so callers can tell a
// bad configuration (exit code 2) from an I/O failure.
var ErrInvalid = errors.New("invalid configuration")
