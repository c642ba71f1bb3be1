// Package config is tlsgate's gateway configuration: plain structs with koanf
// tags, loaded in one pass from defaults, a YAML file, TLSGATE_ environment
// variables and command-line flags, and checked by Validate, which names the
// field path of every problem ("tenants[2].upstream: ...").
package config

import (
	"time"
)

// Config is the whole gateway configuration. The zero value is not useful;
// start from Default.
type Config struct {
	// DataDir holds generated certificates and sealing keys, the embedded
	// NATS store and the Wasm compilation cache. Default ~/.local/share/tlsgate.
	DataDir string `koanf:"data_dir"`
	// Listeners are the TLS listeners. Default one on 127.0.0.1:8443.
	Listeners []Listener `koanf:"listeners"`
	// Admin is the admin HTTP listener (health, readiness, metrics, pprof).
	Admin Admin `koanf:"admin"`
	// HTTP is a plain-HTTP listener for ACME HTTP-01 challenges and
	// redirects to https://. Off by default.
	HTTP HTTP `koanf:"http"`
	// Limits bound what one client, and all clients together, can hold.
	Limits Limits `koanf:"limits"`
	// NATS selects the embedded server (no URL) or an external cluster.
	NATS NATS `koanf:"nats"`
	// Sealing holds the AEAD keys that seal session state.
	Sealing Sealing `koanf:"sealing"`
	// StoreQueue bounds the asynchronous session store path.
	StoreQueue StoreQueue `koanf:"store_queue"`
	// Wasm configures the guest runtime shared by all tenants.
	Wasm Wasm `koanf:"wasm"`
	// Tenants are the virtual hosts, chosen by SNI.
	Tenants []Tenant `koanf:"tenants"`
	// TenantsDir is a directory of tenant documents (*.yaml or *.yml, one
	// tenant each, with the fields of an entry of Tenants), added to
	// Tenants in file name order. A reload reads again only the files whose
	// size or modification time changed. Default: none.
	TenantsDir string `koanf:"tenants_dir"`
	// Registry adds the tenants of the NATS tenant registry to Tenants.
	Registry Registry `koanf:"registry"`
	// HandshakeTimeout bounds one TLS handshake. Default 10s.
	HandshakeTimeout time.Duration `koanf:"handshake_timeout"`
	// ShutdownTimeout bounds graceful shutdown. Default 15s.
	ShutdownTimeout time.Duration `koanf:"shutdown_timeout"`
}

// Registry is the tenant registry: tenants kept in NATS (tlsgate tenant
// put), watched by every gateway of the fleet.
type Registry struct {
	// Enabled serves the registry's tenants beside Tenants (which may then
	// be empty). A registry tenant whose name or server names a file
	// tenant has is refused. Default false.
	Enabled bool `koanf:"enabled"`
}

// Listener is one TLS listening address.
type Listener struct {
	// Address is host:port, e.g. "127.0.0.1:8443" or ":8443".
	Address string `koanf:"address"`
	// Tenants restricts the listener to these tenant names; empty means all.
	Tenants []string `koanf:"tenants"`
	// ClientHello, if set, runs a guest's tlsgate_on_client_hello (ABI 1.1)
	// on every ClientHello of this listener, before a tenant is chosen: it
	// may refuse the handshake or route it to a tenant by name. It may
	// change on reload.
	ClientHello *ListenerGuest `koanf:"client_hello"`
}

// ListenerName is a listener's name in its client-hello guest's key-value
// namespace: its address as configured, every character outside
// [A-Za-z0-9-] as '_' ("0.0.0.0:443" is "0_0_0_0_443"), at most 64 of
// them. Validate refuses two listeners with guests and one name.
func ListenerName(addr string) string {
	b := []byte(addr)
	for i, c := range b {
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '-') {
			b[i] = '_'
		}
	}
	return string(b[:min(len(b), 64)])
}

// ListenerGuest is a listener's client-hello guest.
type ListenerGuest struct {
	// Module is a .wasm file, or nats:<name> for a module deployed with
	// tlsgate guest push. It must export tlsgate_on_client_hello.
	Module string `koanf:"module"`
	// Config is handed to the guest as its guest configuration.
	Config string `koanf:"config"`
	// Deadline bounds one call; past it the handshake goes on by SNI.
	// Default 20ms.
	Deadline time.Duration `koanf:"deadline"`
	// MaxInstances bounds the guest's instances. Default 4.
	MaxInstances int `koanf:"max_instances"`
}

// Limits bound connections, requests and the time they may take, so that
// no client can take the gateway's file descriptors or upstream connections.
// They apply to every listener.
type Limits struct {
	// MaxConnections bounds open client connections per listener; a
	// connection past it is closed at once. Default 10000.
	MaxConnections int `koanf:"max_connections"`
	// MaxConnectionsPerClient bounds open connections per listener from
	// one client IP address. Default 256.
	MaxConnectionsPerClient int `koanf:"max_connections_per_client"`
	// MaxRequestsPerClient bounds HTTP requests in flight per listener
	// from one client IP address; past it a request gets 429. Default 128.
	MaxRequestsPerClient int `koanf:"max_requests_per_client"`
	// MaxStreamsPerConnection bounds concurrent HTTP/2 streams on one
	// connection. Default 100.
	MaxStreamsPerConnection int `koanf:"max_streams_per_connection"`
	// RequestHeaderTimeout bounds reading a request's headers. Default 10s.
	RequestHeaderTimeout time.Duration `koanf:"request_header_timeout"`
	// RequestReadTimeout bounds reading a whole request, body included
	// (per stream for HTTP/2): a body that trickles in is cut. Default 60s.
	RequestReadTimeout time.Duration `koanf:"request_read_timeout"`
	// IdleTimeout closes connections idle between requests. Default 120s.
	IdleTimeout time.Duration `koanf:"idle_timeout"`
	// UpstreamResponseTimeout bounds waiting for an HTTP upstream's
	// response headers once the request is sent. Default 60s.
	UpstreamResponseTimeout time.Duration `koanf:"upstream_response_timeout"`
	// MaxUpstreamConnections bounds the connections to one tenant's HTTP
	// upstream; requests past it wait for one. Default 1024.
	MaxUpstreamConnections int `koanf:"max_upstream_connections"`
}

// HTTP is the plain-HTTP listener (port 80 in production): it answers the
// ACME HTTP-01 challenges of every tenant with certificate.acme (any
// gateway of the fleet answers any challenge: the tokens are in NATS) and
// redirects every other request to https:// on the first listener's port.
type HTTP struct {
	// Address is host:port, e.g. ":80"; empty (default) opens none.
	Address string `koanf:"address"`
}

// Admin is the admin listener.
type Admin struct {
	// Address is host:port; default "127.0.0.1:9090"; "off" disables it.
	Address string `koanf:"address"`
	// Pprof mounts net/http/pprof under /debug/pprof/. Default false.
	Pprof bool `koanf:"pprof"`
}

// NATS configures the key-value backend.
type NATS struct {
	// URL of an external NATS cluster ("nats://host:4222"); empty runs an
	// embedded server in-process.
	URL string `koanf:"url"`
	// CredsFile is a NATS credentials file (JWT and NKey seed) for URL.
	CredsFile string `koanf:"creds_file"`
	// NkeyFile is an NKey user seed file for URL: to join a gateway's
	// embedded server, that gateway's Embedded.GatewayNkeyFile.
	NkeyFile string `koanf:"nkey_file"`
	// TLS configures TLS to URL.
	TLS ClientTLS `koanf:"tls"`
	// Embedded configures the in-process server used when URL is empty.
	Embedded Embedded `koanf:"embedded"`
	// Storage of the sessions bucket: "file" (default) or "memory".
	Storage string `koanf:"storage"`
	// Replicas of the sessions bucket. Default 1.
	Replicas int `koanf:"replicas"`
	// NearCacheMB is how much of the sessions this gateway stored it keeps
	// in memory, each until it expires, to answer a guest's reads of them
	// without a NATS round trip; writes and deletes by other gateways are
	// sent to it. Default 64; -1 turns it off.
	NearCacheMB int `koanf:"near_cache_mb"`
}

// ClientTLS is TLS towards NATS.
type ClientTLS struct {
	CAFile   string `koanf:"ca_file"`
	CertFile string `koanf:"cert_file"`
	KeyFile  string `koanf:"key_file"`
}

// Embedded configures the embedded nats-server.
type Embedded struct {
	// Listen opens a client port, e.g. "127.0.0.1:4222", so other gateways
	// can join; empty (default) serves in-process clients only. The port
	// always requires NKey authentication, and an address other than
	// loopback also requires TLS.
	Listen string `koanf:"listen"`
	// TLS serves the client port with TLS.
	TLS ServerTLS `koanf:"tls"`
	// GatewayNkeyFile is the NKey seed of the gateway role (sessions, and
	// reading deployed guests), generated on first start when missing; the
	// fleet's other gateways join with it as nats.nkey_file. Default
	// <data_dir>/nats-gateway.nk.
	GatewayNkeyFile string `koanf:"gateway_nkey_file"`
	// DeployerNkeyFile is the NKey seed of the deployer role, the only one
	// that may deploy guests (tlsgate guest push --nkey), generated on first
	// start when missing. Default <data_dir>/nats-deployer.nk.
	DeployerNkeyFile string `koanf:"deployer_nkey_file"`
	// Users admits further NKey users, e.g. one per gateway of the fleet.
	Users []NATSUser `koanf:"users"`
}

// ServerTLS is the certificate a server presents, and optionally the CA
// its clients' certificates must chain to.
type ServerTLS struct {
	CertFile string `koanf:"cert_file"`
	KeyFile  string `koanf:"key_file"`
	// ClientCAFile, when set, requires client certificates signed by it.
	ClientCAFile string `koanf:"client_ca_file"`
}

// NATSUser is one NKey user of the embedded server's client port.
type NATSUser struct {
	// Nkey is the user's public key ("U...").
	Nkey string `koanf:"nkey"`
	// Role is "gateway" (sessions, reading guests) or "deployer" (also
	// deploying guests).
	Role string `koanf:"role"`
}

// Sealing holds the session sealing keys.
type Sealing struct {
	// Keys: the first seals, all open. When empty, a key is generated on
	// first start into KeysFile.
	Keys []SealingKey `koanf:"keys"`
	// KeysFile is where the generated key is kept (mode 0600). Default
	// <data_dir>/sealing-keys.yaml.
	KeysFile string `koanf:"keys_file"`
}

// SealingKey is one AEAD key.
type SealingKey struct {
	// ID names the key inside sealed blobs, 1-32 of [A-Za-z0-9._-].
	ID string `koanf:"id"`
	// Key is 32 bytes, standard base64.
	Key string `koanf:"key"`
}

// StoreQueue bounds the asynchronous store path.
type StoreQueue struct {
	// Size is the queue capacity; a full queue drops (and counts) its
	// oldest store for the new one.
	// Default 4096.
	Size int `koanf:"size"`
	// PerTenant is the most stores one tenant may have queued; past it the
	// tenant's own oldest is dropped, never another's. Workers serve the
	// tenants in turn. Default 1024 (and at most Size).
	PerTenant int `koanf:"per_tenant"`
	// Workers call guests' store exports. Default 2.
	Workers int `koanf:"workers"`
	// MaxAge drops a store that waited longer than this in the queue (after
	// an outage, the backlog would delay the stores of new sessions).
	// Default 5s.
	MaxAge time.Duration `koanf:"max_age"`
}

// Wasm configures the guest runtime.
type Wasm struct {
	// CacheDir is the on-disk compilation cache. Default <data_dir>/wasm-cache.
	CacheDir string `koanf:"cache_dir"`
	// MemoryLimitMB caps each guest instance's memory. Default 64.
	MemoryLimitMB int `koanf:"memory_limit_mb"`
	// MemoryBudgetMB caps the memory of all guest instances together, of
	// every tenant: no instance starts past it, and one that grew the total
	// past it is retired after its call. Default 1024.
	MemoryBudgetMB int `koanf:"memory_budget_mb"`
	// MaxInstances caps the guest instances of all tenants together; past
	// it (as past MemoryBudgetMB) a new instance takes the place of the one
	// idle longest. Default 4096.
	MaxInstances int `koanf:"max_instances"`
}

// Tenant is one virtual host.
type Tenant struct {
	// Name is 1-64 of [A-Za-z0-9_-]; it names the key prefix of its
	// sessions and its metrics.
	Name string `koanf:"name"`
	// ServerNames are SNI names: exact ("a.example.com") or one leading
	// wildcard label ("*.example.com").
	ServerNames []string `koanf:"server_names"`
	// Default makes this tenant serve clients with no SNI or an unknown one.
	Default bool `koanf:"default"`
	// Certificate is the tenant's certificate, named "default".
	Certificate Certificate `koanf:"certificate"`
	// Certificates are further certificates, by name: the tenant's guest
	// chooses among them (abi.ExportOnCertificate), or, without one, the
	// first, default one first, that the client supports is presented
	// (an ECDSA and an RSA certificate side by side, say). Tenant files
	// only (a registry tenant has the one certificate it was put with);
	// at most abi.MaxCertificates in all.
	Certificates []NamedCertificate `koanf:"certificates"`
	// Upstream: "http://host:port[/path]", "https://...", "tcp://host:port",
	// or "builtin" (a page showing the TLS session).
	Upstream string `koanf:"upstream"`
	// UpstreamCAFile holds the PEM CA certificates an https:// upstream's
	// certificate must chain to; empty: the system's roots.
	UpstreamCAFile string `koanf:"upstream_ca_file"`
	// ALPN protocols offered for tcp upstreams. HTTP upstreams always offer
	// h2 and http/1.1.
	ALPN []string `koanf:"alpn"`
	// Guest is the session cache guest; nil means stateless tickets.
	Guest *Guest `koanf:"guest"`
	// SessionTTL is how long sessions stay resumable, counted from the full
	// handshake that created them. Default 24h, at most 168h (RFC 8446).
	SessionTTL time.Duration `koanf:"session_ttl"`
	// MinVersion: "1.2" (default) or "1.3".
	MinVersion string `koanf:"min_version"`
	// CurvePreferences are the key exchanges the tenant accepts, a set of
	// X25519MLKEM768, SecP256r1MLKEM768, SecP384r1MLKEM1024, X25519, P256,
	// P384, P521 (crypto/tls chooses among those the client offers in its
	// own order: hybrids, then X25519, then the NIST curves). Empty: all
	// of them, Go's default.
	CurvePreferences []string `koanf:"curve_preferences"`

	// source is the file of a tenant of TenantsDir, which errors name
	// instead of its index in Tenants.
	source string
}

// Certificate is a PEM certificate chain and key, or a generated one.
type Certificate struct {
	CertFile string `koanf:"cert_file"`
	KeyFile  string `koanf:"key_file"`
	// SelfSigned generates a certificate for ServerNames into the data dir
	// (kept across restarts). Meant for trying tlsgate out.
	SelfSigned bool `koanf:"self_signed"`
	// KeyType of a generated certificate: "ecdsa" (P-256, default) or "rsa" (2048).
	KeyType string `koanf:"key_type"`
	// SkipNameCheck serves a certificate from files that does not cover
	// the tenant's server names (the default certificate must cover every
	// one, a further certificate at least one; refused otherwise).
	SkipNameCheck bool `koanf:"skip_name_check"`
	// ACME obtains and renews the certificate from an ACME CA (Let's
	// Encrypt by default) for the tenant's server names, kept in NATS for
	// the whole fleet; it excludes the other fields.
	ACME *ACME `koanf:"acme"`
	// NATS is set by tlsgate tenant put in a registry tenant's document:
	// the SHA-256 of its certificate entry in the registry, which holds the
	// chain and the private key, sealed. Never written by hand.
	NATS string `koanf:"nats"`
}

// ACME is a tenant's automatic certificate.
type ACME struct {
	// Email is the ACME account's contact (the CA writes about expiry
	// and revocation); may be empty.
	Email string `koanf:"email"`
	// CA is the ACME directory URL. Default: Let's Encrypt's production
	// directory.
	CA string `koanf:"ca"`
	// CARootFile is a PEM file of the roots the CA's own HTTPS certificate
	// chains to, for a private CA; empty: the system's roots.
	CARootFile string `koanf:"ca_root_file"`
	// OnDemand obtains certificates during the handshake for names that
	// the tenant's wildcard server names match, one certificate per name
	// (TLS-ALPN-01 cannot validate a wildcard), within its policy.
	OnDemand *OnDemand `koanf:"on_demand"`
	// Challenges are the ACME challenge types the CA may validate with:
	// "tls-alpn-01" (on the tenant's TLS listener), "http-01" (on the
	// http listener) and "dns-01" (through DNS, which needs DNS). Default:
	// dns-01 alone when DNS is set, else tls-alpn-01, with http-01 too
	// when the gateway has an http listener.
	Challenges []string `koanf:"challenges"`
	// DNS is the DNS-01 provider: the only way to a wildcard certificate.
	DNS *DNSChallenge `koanf:"dns"`
}

// ACME challenge types.
const (
	ChallengeTLSALPN = "tls-alpn-01"
	ChallengeHTTP    = "http-01"
	ChallengeDNS     = "dns-01"
)

// DNSChallenge is how DNS-01 records are written: a provider built into
// the tlsgate binary (gateway.RegisterDNSProvider; the project's build has
// none, see docs/operations.md) and its settings.
type DNSChallenge struct {
	// Provider is the registered provider's name.
	Provider string `koanf:"provider"`
	// Settings are handed to the provider (API tokens, zone, ...).
	Settings map[string]string `koanf:"settings"`
	// Resolvers are the DNS servers (host:port) asked whether a record has
	// propagated; empty: the system's.
	Resolvers []string `koanf:"resolvers"`
	// PropagationTimeout bounds the wait for a record to be seen; -1s
	// skips the check. Default 2m.
	PropagationTimeout time.Duration `koanf:"propagation_timeout"`
}

// OnDemand is the policy of on-demand issuance: a flood of made-up SNI
// names must not make the gateway hammer the CA.
type OnDemand struct {
	// Allow lists the names that may be issued: exact names, or patterns
	// with one leading "*." matching one label. Required.
	Allow []string `koanf:"allow"`
	// PerMinute bounds new certificates per minute for the tenant, on
	// each gateway. Default 10.
	PerMinute int `koanf:"per_minute"`
	// Burst of PerMinute. Default 5.
	Burst int `koanf:"burst"`
}

// DefaultACMECA is Let's Encrypt's production directory.
const DefaultACMECA = "https://acme-v02.api.letsencrypt.org/directory"

// DefaultCertificateName names a tenant's Certificate among its
// Certificates.
const DefaultCertificateName = "default"

// NamedCertificate is one of a tenant's further certificates.
type NamedCertificate struct {
	// Name is 1-64 of [A-Za-z0-9._-], unique in the tenant, and not
	// "default" (the tenant's Certificate).
	Name        string `koanf:"name"`
	Certificate `koanf:",squash"`
}

// Guest is a tenant's Wasm session guest.
type Guest struct {
	// Module is a path to a .wasm file, "builtin:sessioncache", or
	// "nats:<name>": a module deployed fleet-wide with tlsgate guest push
	// into the NATS object store; gateways reload when it changes.
	Module string `koanf:"module"`
	// Config is handed to the guest verbatim (InputGuestConfig).
	Config string `koanf:"config"`
	// MaxInstances bounds the tenant's instance pool. Default 8.
	MaxInstances int `koanf:"max_instances"`
	// FetchDeadline bounds one fetch; past it the handshake goes full.
	// Default 50ms.
	FetchDeadline time.Duration `koanf:"fetch_deadline"`
	// StoreDeadline bounds one store call. Default 500ms.
	StoreDeadline time.Duration `koanf:"store_deadline"`
	// CertificateDeadline bounds one certificate call (a guest that
	// exports tlsgate_on_certificate); past it the tenant's certificate is
	// chosen as without the hook. Default 20ms.
	CertificateDeadline time.Duration `koanf:"certificate_deadline"`
	// SuspendAfterFaults suspends the guest after this many calls in a row
	// that trapped, timed out, ran out of memory or misused the ABI: its
	// handshakes are then full with no guest call, for 1s, doubling while
	// probe calls keep faulting, up to 1m. -1 never suspends. Default 5.
	SuspendAfterFaults int `koanf:"suspend_after_faults"`
	// CPUBudget is the guest CPU the tenant's calls may use per second (time
	// in the guest, KV waits excepted), in bursts of one second's worth;
	// while it is used up, handshakes are full with no guest call. Default
	// 500ms (half a core).
	CPUBudget time.Duration `koanf:"cpu_budget"`
	// KVMaxBytes bounds the bytes the tenant's keys hold in the sessions
	// bucket, as this gateway counts its writes until they expire; writes
	// past it fail (LIMIT_EXCEEDED) and no other tenant is affected. Default
	// 268435456 (256 MiB).
	KVMaxBytes int64 `koanf:"kv_max_bytes"`
	// KVMaxEntries bounds the tenant's entries, counted the same way. Default 1000000.
	KVMaxEntries int64 `koanf:"kv_max_entries"`
	// KVWriteBytesPerCall bounds the KV bytes (keys and values) one guest
	// call writes. Default 1048576 (1 MiB).
	KVWriteBytesPerCall int `koanf:"kv_write_bytes_per_call"`
	// KVWriteBytesPerSecond bounds the KV bytes the tenant's guest writes
	// per second, in bursts of one second's worth. Default 8388608 (8 MiB).
	KVWriteBytesPerSecond int `koanf:"kv_write_bytes_per_second"`
}

// The reference session guests embedded in the binary, which share keys,
// values and config: BuiltinSessionCache is the AssemblyScript one, 5 KB
// and about 0.13 MiB per instance (docs/rationale.md, "The default guest");
// BuiltinSessionCacheGo the Go one (2.3 MB, about 3.8 MiB per instance).
const (
	BuiltinSessionCache   = "builtin:sessioncache"
	BuiltinSessionCacheGo = "builtin:sessioncache-go"
)

// IsBuiltinGuest reports whether module names an embedded guest.
func IsBuiltinGuest(module string) bool {
	return module == BuiltinSessionCache || module == BuiltinSessionCacheGo
}

// NATSModulePrefix starts a guest module deployed in the NATS object store.
const NATSModulePrefix = "nats:"

// BuiltinUpstream names the built-in upstream page.
const BuiltinUpstream = "builtin"

// MaxSessionTTL is RFC 8446's cap on ticket lifetime.
const MaxSessionTTL = 7 * 24 * time.Hour
