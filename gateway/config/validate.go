package config

import (
	"encoding/base64"
	"errors"
	"fmt"
	"net"
	"net/url"
	"regexp"
	"runtime"
	"strconv"
	"strings"
	"time"

	"github.com/tlsgate/tlsgate/internal/netaddr"
)

var (
	tenantNameRE = regexp.MustCompile(`^[A-Za-z0-9_-]{1,64}$`)
	keyIDRE      = regexp.MustCompile(`^[A-Za-z0-9._-]{1,32}$`)
	hostLabelRE  = regexp.MustCompile(`^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$`)
	guestNameRE  = regexp.MustCompile(`^[A-Za-z0-9._-]{1,64}$`)
	nkeyUserRE   = regexp.MustCompile(`^U[A-Z2-7]{55}$`)
	sha256HexRE  = regexp.MustCompile(`^[0-9a-f]{64}$`)
)

// FieldError is one problem at a field path.
type FieldError struct {
	// Path is the koanf path, e.g. "tenants[2].upstream".
	Path string
	// Msg says what is wrong.
	Msg string
	// File and Line say where the field is written, when it is in a file
	// (Line 0: somewhere in File).
	File string
	Line int
}

func (e *FieldError) Error() string {
	switch {
	case e.File != "" && e.Line > 0:
		return fmt.Sprintf("%s:%d: %s: %s", e.File, e.Line, e.Path, e.Msg)
	case e.File != "":
		return e.File + ": " + e.Path + ": " + e.Msg
	}
	return e.Path + ": " + e.Msg
}

// Unwrap makes errors.Is(err, ErrInvalid) hold.
func (e *FieldError) Unwrap() error { return ErrInvalid }

type problems []error

func (p *problems) add(path, format string, args ...any) {
	*p = append(*p, &FieldError{Path: path, Msg: fmt.Sprintf(format, args...)})
}

// Validate checks the whole configuration and returns every problem found,
// joined, each a *FieldError naming its field path. It does not touch files
// or the network; loading certificates and guests is the gateway's check.
func (c *Config) Validate() error {
	var p problems
	if c.DataDir == "" {
		p.add("data_dir", "must not be empty")
	}
	if len(c.Listeners) == 0 {
		p.add("listeners", "at least one listener is required")
	}
	if c.HTTP.Address != "" {
		if err := checkHostPort(c.HTTP.Address); err != nil {
			p.add("http.address", "%v", err)
		}
	}
	tenantNames := map[string]bool{}
	for _, t := range c.Tenants {
		tenantNames[t.Name] = true
	}
	helloNames := map[string]string{} // a client-hello guest's namespace: which listener has it
	for i, l := range c.Listeners {
		path := fmt.Sprintf("listeners[%d]", i)
		if err := checkHostPort(l.Address); err != nil {
			p.add(path+".address", "%v", err)
		}
		for j, name := range l.Tenants {
			if !tenantNames[name] {
				p.add(fmt.Sprintf("%s.tenants[%d]", path, j), "no tenant named %q", name)
			}
		}
		if h := l.ClientHello; h != nil {
			hp := path + ".client_hello"
			if other, ok := helloNames[ListenerName(l.Address)]; ok {
				p.add(hp, "its key-value namespace %q is also %s's: give the listeners addresses that differ in more than punctuation", ListenerName(l.Address), other)
			}
			helloNames[ListenerName(l.Address)] = path
			switch {
			case h.Module == "":
				p.add(hp+".module", "must name a .wasm file or nats:<name> exporting tlsgate_on_client_hello")
			case strings.HasPrefix(h.Module, "builtin:"):
				p.add(hp+".module", "%q: there is no built-in client-hello guest", h.Module)
			case strings.HasPrefix(h.Module, NATSModulePrefix) && !guestNameRE.MatchString(strings.TrimPrefix(h.Module, NATSModulePrefix)):
				p.add(hp+".module", "%q: a deployed module is nats:<name>, name 1-64 of [A-Za-z0-9._-]", h.Module)
			}
			if h.Deadline <= 0 || h.Deadline > time.Second {
				p.add(hp+".deadline", "%v is out of range (0, 1s]: the handshake waits for it", h.Deadline)
			}
			if h.MaxInstances < 1 || h.MaxInstances > 1024 {
				p.add(hp+".max_instances", "%d is out of range 1..1024", h.MaxInstances)
			}
		}
	}
	if c.Admin.Address != "off" {
		if err := checkHostPort(c.Admin.Address); err != nil {
			p.add("admin.address", "%v (or \"off\")", err)
		}
	}
	c.validateAddressClashes(&p)
	c.validateLimits(&p)
	c.validateNATS(&p)
	c.validateSealing(&p)
	if c.StoreQueue.Size < 1 || c.StoreQueue.Size > 1<<20 {
		p.add("store_queue.size", "%d is out of range 1..1048576", c.StoreQueue.Size)
	}
	if c.StoreQueue.Workers < 1 || c.StoreQueue.Workers > 64 {
		p.add("store_queue.workers", "%d is out of range 1..64", c.StoreQueue.Workers)
	}
	if c.StoreQueue.PerTenant < 1 {
		p.add("store_queue.per_tenant", "%d must be at least 1", c.StoreQueue.PerTenant)
	}
	if c.StoreQueue.MaxAge <= 0 {
		p.add("store_queue.max_age", "%v must be positive", c.StoreQueue.MaxAge)
	}
	if c.Wasm.MemoryLimitMB < 1 || c.Wasm.MemoryLimitMB > 4096 {
		p.add("wasm.memory_limit_mb", "%d is out of range 1..4096", c.Wasm.MemoryLimitMB)
	}
	if c.Wasm.MemoryBudgetMB < c.Wasm.MemoryLimitMB || c.Wasm.MemoryBudgetMB > 1<<20 {
		p.add("wasm.memory_budget_mb", "%d is out of range wasm.memory_limit_mb (%d)..1048576", c.Wasm.MemoryBudgetMB, c.Wasm.MemoryLimitMB)
	}
	if c.Wasm.MaxInstances < 1 || c.Wasm.MaxInstances > 1<<20 {
		p.add("wasm.max_instances", "%d is out of range 1..1048576", c.Wasm.MaxInstances)
	}
	if c.HandshakeTimeout <= 0 {
		p.add("handshake_timeout", "must be positive")
	}
	if c.ShutdownTimeout <= 0 {
		p.add("shutdown_timeout", "must be positive")
	}
	c.validateTenants(&p)
	return errors.Join(p...)
}

// validateAddressClashes refuses two sockets of the gateway that would
// bind the same port on overlapping addresses: the same host (localhost
// counting as 127.0.0.1), or either on every interface.
func (c *Config) validateAddressClashes(p *problems) {
	type socket struct{ path, addr string }
	var socks []socket
	for i, l := range c.Listeners {
		socks = append(socks, socket{fmt.Sprintf("listeners[%d].address", i), l.Address})
	}
	if c.Admin.Address != "off" {
		socks = append(socks, socket{"admin.address", c.Admin.Address})
	}
	if c.NATS.URL == "" && c.NATS.Embedded.Listen != "" {
		socks = append(socks, socket{"nats.embedded.listen", c.NATS.Embedded.Listen})
	}
	for i, a := range socks {
		for _, b := range socks[:i] {
			if addressesClash(a.addr, b.addr) {
				p.add(a.path, "%q binds the same port as %s (%q)", a.addr, b.path, b.addr)
				break
			}
		}
	}
}

func addressesClash(a, b string) bool {
	ha, pa, err1 := net.SplitHostPort(a)
	hb, pb, err2 := net.SplitHostPort(b)
	if err1 != nil || err2 != nil || pa != pb || pa == "0" {
		return false
	}
	norm := func(h string) string {
		switch h {
		case "localhost":
			return "127.0.0.1"
		case "", "0.0.0.0", "::":
			return "*"
		}
		if ip := net.ParseIP(h); ip != nil {
			return ip.String()
		}
		return strings.ToLower(h)
	}
	na, nb := norm(ha), norm(hb)
	return na == nb || na == "*" || nb == "*"
}

func (c *Config) validateLimits(p *problems) {
	l := c.Limits
	for _, f := range []struct {
		path   string
		v, max int
	}{
		{"limits.max_connections", l.MaxConnections, 1 << 24},
		{"limits.max_connections_per_client", l.MaxConnectionsPerClient, 1 << 24},
		{"limits.max_requests_per_client", l.MaxRequestsPerClient, 1 << 24},
		{"limits.max_streams_per_connection", l.MaxStreamsPerConnection, 1 << 16},
		{"limits.max_upstream_connections", l.MaxUpstreamConnections, 1 << 20},
	} {
		if f.v < 1 || f.v > f.max {
			p.add(f.path, "%d is out of range 1..%d", f.v, f.max)
		}
	}
	if l.MaxConnectionsPerClient > l.MaxConnections {
		p.add("limits.max_connections_per_client", "%d is more than limits.max_connections (%d)", l.MaxConnectionsPerClient, l.MaxConnections)
	}
	for _, f := range []struct {
		path string
		v    time.Duration
	}{
		{"limits.request_header_timeout", l.RequestHeaderTimeout},
		{"limits.request_read_timeout", l.RequestReadTimeout},
		{"limits.idle_timeout", l.IdleTimeout},
		{"limits.upstream_response_timeout", l.UpstreamResponseTimeout},
	} {
		if f.v <= 0 {
			p.add(f.path, "%v must be positive", f.v)
		}
	}
	if l.RequestHeaderTimeout > l.RequestReadTimeout {
		p.add("limits.request_header_timeout", "%v is longer than limits.request_read_timeout (%v), which includes it", l.RequestHeaderTimeout, l.RequestReadTimeout)
	}
}

func (c *Config) validateNATS(p *problems) {
	if n := c.NATS.NearCacheMB; n < -1 || n == 0 || n > 1<<16 {
		p.add("nats.near_cache_mb", "%d is out of range 1..65536 (or -1: off)", n)
	}
	n := c.NATS
	if n.URL != "" {
		for i, u := range strings.Split(n.URL, ",") {
			pu, err := url.Parse(strings.TrimSpace(u))
			path := "nats.url"
			if strings.Contains(n.URL, ",") {
				path = fmt.Sprintf("nats.url (server %d)", i+1)
			}
			switch {
			case err != nil:
				p.add(path, "%v", err)
			case pu.Scheme != "nats" && pu.Scheme != "tls":
				p.add(path, "scheme %q is not supported (want nats:// or tls://)", pu.Scheme)
			case pu.Host == "":
				p.add(path, "%q has no host", u)
			}
		}
		if n.Embedded.Listen != "" {
			p.add("nats.embedded.listen", "set, but nats.url is set too: an external cluster is used and no server is embedded")
		}
		if n.CredsFile != "" && n.NkeyFile != "" {
			p.add("nats.nkey_file", "creds_file and nkey_file exclude each other")
		}
	} else {
		if n.CredsFile != "" {
			p.add("nats.creds_file", "needs nats.url")
		}
		if n.NkeyFile != "" {
			p.add("nats.nkey_file", "needs nats.url (the embedded server's own users are nats.embedded.*_nkey_file)")
		}
		c.validateEmbedded(p)
	}
	if (n.TLS.CertFile == "") != (n.TLS.KeyFile == "") {
		p.add("nats.tls", "cert_file and key_file go together")
	}
	if n.Storage != "file" && n.Storage != "memory" {
		p.add("nats.storage", "%q is not one of file, memory", n.Storage)
	}
	if n.Replicas < 1 || n.Replicas > 5 {
		p.add("nats.replicas", "%d is out of range 1..5", n.Replicas)
	}
}

func (c *Config) validateEmbedded(p *problems) {
	e := c.NATS.Embedded
	if e.Listen == "" {
		if e.TLS != (ServerTLS{}) || len(e.Users) > 0 {
			p.add("nats.embedded", "tls and users need a client port (nats.embedded.listen)")
		}
		return
	}
	if err := checkHostPort(e.Listen); err != nil {
		p.add("nats.embedded.listen", "%v", err)
	} else if host, _, _ := net.SplitHostPort(e.Listen); e.TLS.CertFile == "" && !netaddr.IsLoopback(host) {
		p.add("nats.embedded.listen", "%q is reachable from other machines: give nats.embedded.tls (the port carries credentials and sessions), or listen on 127.0.0.1", e.Listen)
	}
	if (e.TLS.CertFile == "") != (e.TLS.KeyFile == "") {
		p.add("nats.embedded.tls", "cert_file and key_file go together")
	}
	if e.TLS.ClientCAFile != "" && e.TLS.CertFile == "" {
		p.add("nats.embedded.tls.client_ca_file", "needs cert_file and key_file")
	}
	if e.GatewayNkeyFile == e.DeployerNkeyFile {
		p.add("nats.embedded.deployer_nkey_file", "is also nats.embedded.gateway_nkey_file: the roles need different keys")
	}
	for i, u := range e.Users {
		up := fmt.Sprintf("nats.embedded.users[%d]", i)
		if !nkeyUserRE.MatchString(u.Nkey) {
			p.add(up+".nkey", "%q is not an NKey user public key (56 characters starting with U)", u.Nkey)
		}
		if u.Role != "gateway" && u.Role != "deployer" {
			p.add(up+".role", "%q is not one of gateway, deployer", u.Role)
		}
	}
}

func (c *Config) validateSealing(p *problems) {
	validateKeys(p, "sealing.keys", c.Sealing.Keys)
}

// ValidateSealingKeys checks keys read from elsewhere (a keys file), naming
// each problem with path ("sealing.keys[0].key: ...").
func ValidateSealingKeys(path string, keys []SealingKey) error {
	var p problems
	if len(keys) == 0 {
		p.add(path, "no keys")
	}
	validateKeys(&p, path, keys)
	return errors.Join(p...)
}

func validateKeys(p *problems, base string, keys []SealingKey) {
	seen := map[string]int{}
	for i, k := range keys {
		path := fmt.Sprintf("%s[%d]", base, i)
		if !keyIDRE.MatchString(k.ID) {
			p.add(path+".id", "%q must be 1-32 of [A-Za-z0-9._-]", k.ID)
		} else if j, dup := seen[k.ID]; dup {
			p.add(path+".id", "%q is also %s[%d].id", k.ID, base, j)
		}
		seen[k.ID] = i
		raw, err := base64.StdEncoding.DecodeString(k.Key)
		switch {
		case err != nil:
			p.add(path+".key", "not standard base64: %v", err)
		case len(raw) != 32:
			p.add(path+".key", "decodes to %d bytes, want 32", len(raw))
		case publishedKey(raw) != "":
			p.add(path+".key", "is public (it was published in %s): anyone could open sessions sealed with it; generate one with: head -c 32 /dev/urandom | base64", publishedKey(raw))
		}
	}
}

func (c *Config) validateTenants(p *problems) {
	if len(c.Tenants) == 0 && !c.Registry.Enabled {
		p.add("tenants", "at least one tenant is required (or registry.enabled)")
	}
	names := map[string]int{}
	sni := map[string]string{}
	defaults := 0
	for i, t := range c.Tenants {
		path := fmt.Sprintf("tenants[%d]", i)
		if t.source != "" {
			path = t.source + ":" // checked when read; what is left is how it fits the others
		} else {
			t.validate(p, path, fileTenant)
		}
		if j, dup := names[t.Name]; dup && tenantNameRE.MatchString(t.Name) {
			p.add(join(path, "name"), "%q is also the name of %s", t.Name, tenantPath(c.Tenants[j], j))
		}
		names[t.Name] = i
		if t.Default {
			defaults++
			if defaults == 2 {
				p.add(join(path, "default"), "only one tenant may be the default")
			}
		}
		for j, n := range t.ServerNames {
			sp := fmt.Sprintf("%s[%d]", join(path, "server_names"), j)
			if checkServerName(n) != nil {
				continue // t.validate said so
			}
			key := strings.ToLower(n)
			if other, dup := sni[key]; dup {
				p.add(sp, "%q is also served by %s", n, other)
			}
			sni[key] = sp
		}
	}
}

// join is path.field, or "file: field" for a tenant document's path.
func join(path, field string) string {
	if strings.HasSuffix(path, ":") {
		return path + " " + field
	}
	return path + "." + field
}

// tenantPath names tenant i in errors: its index, or its document.
func tenantPath(t Tenant, i int) string {
	if t.source != "" {
		return t.source
	}
	return fmt.Sprintf("tenants[%d]", i)
}

// tenantKind is where a tenant is defined, which decides what its
// certificate and guest may be.
type tenantKind int

const (
	fileTenant     tenantKind = iota // tenants[] of the configuration file
	registryInput                    // a document given to tlsgate tenant put
	registryStored                   // a document in the registry
)

// validate checks one tenant on its own (names and SNI names shared with
// other tenants are the caller's), with field paths under path ("" for a
// tenant document). A registry tenant's certificate is in NATS
// (certificate.nats, which tlsgate tenant put makes from cert_file and
// key_file) or self-signed, and its guest module is one every gateway has
// (builtin or nats:); a file tenant may not claim a certificate in NATS.
func (t *Tenant) validate(p *problems, path string, kind tenantKind) {
	registry := kind != fileTenant
	at := func(field string) string {
		if path == "" {
			return field
		}
		return path + "." + field
	}
	if !tenantNameRE.MatchString(t.Name) {
		p.add(at("name"), "%q must be 1-64 of [A-Za-z0-9_-]", t.Name)
	}
	if len(t.ServerNames) == 0 && !t.Default {
		p.add(at("server_names"), "empty: give SNI names or make the tenant the default")
	}
	for j, n := range t.ServerNames {
		if err := checkServerName(n); err != nil {
			p.add(fmt.Sprintf("%s[%d]", at("server_names"), j), "%v", err)
		}
	}
	cert := t.Certificate
	switch {
	case cert.ACME != nil:
		checkACME(p, at, *t)
	case cert.NATS != "" && !registry:
		p.add(at("certificate.nats"), "only in a tenant registry document (tlsgate tenant put sets it)")
	case kind == registryInput && cert.NATS != "":
		p.add(at("certificate.nats"), "is set by tlsgate tenant put: give cert_file and key_file")
	case cert.NATS != "" && !sha256HexRE.MatchString(cert.NATS):
		p.add(at("certificate.nats"), "%q is not a SHA-256 in hex (64 of [0-9a-f])", cert.NATS)
	case kind == registryStored && cert.NATS == "" && !cert.SelfSigned:
		p.add(at("certificate"), "a registry tenant's certificate is in NATS (put it with tlsgate tenant put) or self_signed")
	case cert.NATS != "" && (cert.SelfSigned || cert.CertFile != "" || cert.KeyFile != ""):
		p.add(at("certificate"), "nats excludes self_signed, cert_file and key_file")
	case cert.SelfSigned && (cert.CertFile != "" || cert.KeyFile != ""):
		p.add(at("certificate"), "self_signed and cert_file/key_file exclude each other")
	case kind != registryStored && !cert.SelfSigned && (cert.CertFile == "" || cert.KeyFile == ""):
		p.add(at("certificate"), "needs cert_file and key_file (or self_signed: true)")
	}
	if cert.SelfSigned && cert.KeyType != "ecdsa" && cert.KeyType != "rsa" {
		p.add(at("certificate.key_type"), "%q is not one of ecdsa, rsa", cert.KeyType)
	}
	if len(t.Certificates) > 0 && registry {
		p.add(at("certificates"), "only in tenant files: a registry tenant has the one certificate it was put with")
	} else {
		checkNamedCertificates(p, at("certificates"), t.Certificates)
	}
	if err := checkUpstream(t.Upstream); err != nil {
		p.add(at("upstream"), "%v", err)
	}
	if t.UpstreamCAFile != "" && !strings.HasPrefix(t.Upstream, "https://") {
		p.add(at("upstream_ca_file"), "only for https:// upstreams")
	}
	if len(t.ALPN) > 0 && !strings.HasPrefix(t.Upstream, "tcp://") {
		p.add(at("alpn"), "only for tcp:// upstreams (HTTP upstreams offer h2 and http/1.1)")
	}
	if t.SessionTTL <= 0 || t.SessionTTL > MaxSessionTTL {
		p.add(at("session_ttl"), "%v is out of range (0, 168h]", t.SessionTTL)
	}
	if t.MinVersion != "1.2" && t.MinVersion != "1.3" {
		p.add(at("min_version"), "%q is not one of 1.2, 1.3", t.MinVersion)
	}
	if i, msg, ok := checkCurves(t.CurvePreferences); !ok {
		p.add(fmt.Sprintf("%s[%d]", at("curve_preferences"), i), "%s", msg)
	}
	g := t.Guest
	if g == nil {
		return
	}
	gp := at("guest")
	switch {
	case g.Module == "":
		p.add(gp+".module", "must name a .wasm file, "+BuiltinSessionCache+" or nats:<name>")
	case strings.HasPrefix(g.Module, "builtin:") && !IsBuiltinGuest(g.Module):
		p.add(gp+".module", "%q: the built-in guests are %s and %s", g.Module, BuiltinSessionCache, BuiltinSessionCacheGo)
	case strings.HasPrefix(g.Module, NATSModulePrefix) && !guestNameRE.MatchString(strings.TrimPrefix(g.Module, NATSModulePrefix)):
		p.add(gp+".module", "%q: a deployed module is nats:<name>, name 1-64 of [A-Za-z0-9._-]", g.Module)
	case registry && !IsBuiltinGuest(g.Module) && !strings.HasPrefix(g.Module, NATSModulePrefix):
		p.add(gp+".module", "%q: a registry tenant's guest is %s, %s or nats:<name> (deploy it with tlsgate guest push): a file would have to exist on every gateway", g.Module, BuiltinSessionCache, BuiltinSessionCacheGo)
	}
	if g.MaxInstances < 1 || g.MaxInstances > 1024 {
		p.add(gp+".max_instances", "%d is out of range 1..1024", g.MaxInstances)
	}
	if g.FetchDeadline <= 0 || g.FetchDeadline > 10e9 {
		p.add(gp+".fetch_deadline", "%v is out of range (0, 10s]", g.FetchDeadline)
	}
	if g.StoreDeadline <= 0 || g.StoreDeadline > 60e9 {
		p.add(gp+".store_deadline", "%v is out of range (0, 60s]", g.StoreDeadline)
	}
	if g.CertificateDeadline <= 0 || g.CertificateDeadline > 1e9 {
		p.add(gp+".certificate_deadline", "%v is out of range (0, 1s]", g.CertificateDeadline)
	}
	if g.CPUBudget < time.Millisecond || g.CPUBudget > time.Duration(runtime.NumCPU())*time.Second {
		p.add(gp+".cpu_budget", "%v is out of range 1ms..%ds (the CPUs of this machine, per second)", g.CPUBudget, runtime.NumCPU())
	}
	if g.SuspendAfterFaults < -1 || g.SuspendAfterFaults == 0 || g.SuspendAfterFaults > 1000 {
		p.add(gp+".suspend_after_faults", "%d is out of range 1..1000 (or -1: never)", g.SuspendAfterFaults)
	}
	if g.KVMaxBytes < 1<<16 || g.KVMaxBytes > 1<<40 {
		p.add(gp+".kv_max_bytes", "%d is out of range 65536..1099511627776", g.KVMaxBytes)
	}
	if g.KVMaxEntries < 1 || g.KVMaxEntries > 1<<32 {
		p.add(gp+".kv_max_entries", "%d is out of range 1..4294967296", g.KVMaxEntries)
	}
	if g.KVWriteBytesPerCall < 1 || g.KVWriteBytesPerCall > 1<<30 {
		p.add(gp+".kv_write_bytes_per_call", "%d is out of range 1..1073741824", g.KVWriteBytesPerCall)
	}
	if g.KVWriteBytesPerSecond < 1 || g.KVWriteBytesPerSecond > 1<<34 {
		p.add(gp+".kv_write_bytes_per_second", "%d is out of range 1..17179869184", g.KVWriteBytesPerSecond)
	}
}

func checkHostPort(a string) error {
	if a == "" {
		return errors.New("empty address, want host:port")
	}
	_, port, err := net.SplitHostPort(a)
	if err != nil {
		return fmt.Errorf("%q is not host:port", a)
	}
	n, err := strconv.Atoi(port)
	if err != nil || n < 0 || n > 65535 {
		return fmt.Errorf("%q: port %q is not 0..65535", a, port)
	}
	return nil
}

func checkServerName(n string) error {
	name := strings.ToLower(n)
	if strings.HasPrefix(name, "*.") {
		name = name[2:]
	}
	if name == "" || len(name) > 253 {
		return fmt.Errorf("%q is not a DNS name", n)
	}
	if net.ParseIP(name) != nil {
		return fmt.Errorf("%q is an IP address; SNI carries DNS names only", n)
	}
	for _, label := range strings.Split(name, ".") {
		if !hostLabelRE.MatchString(label) {
			return fmt.Errorf("%q is not a DNS name (label %q)", n, label)
		}
	}
	return nil
}

func checkUpstream(u string) error {
	if u == BuiltinUpstream {
		return nil
	}
	if u == "" {
		return errors.New("empty: want http://host:port, https://host:port, tcp://host:port or builtin")
	}
	pu, err := url.Parse(u)
	if err != nil {
		return err
	}
	switch pu.Scheme {
	case "http", "https":
		if pu.Host == "" {
			return fmt.Errorf("%q has no host", u)
		}
	case "tcp":
		if pu.Path != "" || pu.RawQuery != "" {
			return fmt.Errorf("%q: a tcp upstream is tcp://host:port, nothing after", u)
		}
		if err := checkHostPort(pu.Host); err != nil {
			return err
		}
	default:
		return fmt.Errorf("scheme %q is not supported (want http, https, tcp or builtin)", pu.Scheme)
	}
	return nil
}

// maxNamedCertificates is how many certificates a tenant may have beside
// its default one (abi.MaxCertificates in all).
const maxNamedCertificates = 511

// checkNamedCertificates checks a file tenant's further certificates.
func checkNamedCertificates(p *problems, at string, certs []NamedCertificate) {
	if len(certs) > maxNamedCertificates {
		p.add(at, "%d certificates, at most %d beside the default one", len(certs), maxNamedCertificates)
		return
	}
	seen := map[string]int{}
	for i, c := range certs {
		ci := fmt.Sprintf("%s[%d]", at, i)
		switch j, dup := seen[c.Name]; {
		case !guestNameRE.MatchString(c.Name):
			p.add(ci+".name", "%q: a certificate name is 1-64 of [A-Za-z0-9._-]", c.Name)
		case c.Name == DefaultCertificateName:
			p.add(ci+".name", "%q names the tenant's certificate: pick another name", c.Name)
		case dup:
			p.add(ci+".name", "%q is also %s[%d]'s name", c.Name, at, j)
		default:
			seen[c.Name] = i
		}
		switch {
		case c.ACME != nil:
			p.add(ci+".acme", "only the tenant's certificate may be obtained by ACME")
		case c.NATS != "":
			p.add(ci+".nats", "only a registry tenant's certificate is in NATS")
		case c.SelfSigned && (c.CertFile != "" || c.KeyFile != ""):
			p.add(ci, "self_signed and cert_file/key_file exclude each other")
		case !c.SelfSigned && (c.CertFile == "" || c.KeyFile == ""):
			p.add(ci, "needs cert_file and key_file (or self_signed: true)")
		}
		if c.SelfSigned && c.KeyType != "ecdsa" && c.KeyType != "rsa" {
			p.add(ci+".key_type", "%q is not one of ecdsa, rsa", c.KeyType)
		}
	}
}

// checkACME checks a tenant certificate obtained by ACME.
func checkACME(p *problems, at func(string) string, t Tenant) {
	c := t.Certificate
	a := c.ACME
	switch {
	case c.SelfSigned || c.CertFile != "" || c.KeyFile != "" || c.NATS != "":
		p.add(at("certificate"), "acme excludes self_signed, cert_file, key_file and nats")
	case len(t.ServerNames) == 0:
		p.add(at("server_names"), "an ACME certificate needs the names to obtain it for")
	}
	dns := false
	seen := map[string]bool{}
	for j, ch := range a.Challenges {
		cp := fmt.Sprintf("%s[%d]", at("certificate.acme.challenges"), j)
		switch {
		case ch != ChallengeTLSALPN && ch != ChallengeHTTP && ch != ChallengeDNS:
			p.add(cp, "%q is not one of %s, %s, %s", ch, ChallengeTLSALPN, ChallengeHTTP, ChallengeDNS)
		case seen[ch]:
			p.add(cp, "%q is listed twice", ch)
		case ch == ChallengeDNS && a.DNS == nil:
			p.add(cp, "dns-01 needs certificate.acme.dns (its provider)")
		}
		seen[ch] = true
		dns = dns || ch == ChallengeDNS
	}
	if a.DNS != nil {
		if len(a.Challenges) == 0 {
			dns = true
		} else if !dns {
			p.add(at("certificate.acme.dns"), "is set but challenges does not list dns-01")
		}
		if a.DNS.Provider == "" {
			p.add(at("certificate.acme.dns.provider"), "names the DNS provider: required")
		}
		for j, r := range a.DNS.Resolvers {
			if err := checkHostPort(r); err != nil {
				p.add(fmt.Sprintf("%s[%d]", at("certificate.acme.dns.resolvers"), j), "%v", err)
			}
		}
		if d := a.DNS.PropagationTimeout; d < -time.Second || (d < 0 && d != -time.Second) || d > time.Hour {
			p.add(at("certificate.acme.dns.propagation_timeout"), "%v is out of range: -1s (no check) or 0..1h", d)
		}
	}
	for j, n := range t.ServerNames {
		if strings.HasPrefix(n, "*.") && a.OnDemand == nil && !dns {
			p.add(fmt.Sprintf("%s[%d]", at("server_names"), j), "%q: a wildcard certificate needs dns-01 (certificate.acme.dns), or certificate.acme.on_demand for a certificate per name", n)
		}
	}
	if o := a.OnDemand; o != nil {
		op := at("certificate.acme.on_demand")
		if len(o.Allow) == 0 {
			p.add(op+".allow", "lists the names that may be issued on demand: required, so random SNI names cannot reach the CA")
		}
		for j, n := range o.Allow {
			if err := checkServerName(n); err != nil {
				p.add(fmt.Sprintf("%s.allow[%d]", op, j), "%v", err)
			}
		}
		if o.PerMinute < 1 || o.PerMinute > 1000 {
			p.add(op+".per_minute", "%d is out of range 1..1000", o.PerMinute)
		}
		if o.Burst < 1 || o.Burst > 1000 {
			p.add(op+".burst", "%d is out of range 1..1000", o.Burst)
		}
	}
	if u, err := url.Parse(a.CA); err != nil || u.Scheme != "https" || u.Host == "" {
		p.add(at("certificate.acme.ca"), "%q is not an https:// ACME directory URL", a.CA)
	}
	if a.Email != "" && !strings.Contains(a.Email, "@") {
		p.add(at("certificate.acme.email"), "%q is not an email address", a.Email)
	}
}
