package gateway

import (
	"context"
	"errors"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/tlsgate/tlsgate/abi"
	"github.com/tlsgate/tlsgate/wasmhost"
)

// metrics holds the gateway's Prometheus collectors, on a registry of its
// own so several gateways can live in one process (tests, embedding).
type metrics struct {
	reg *prometheus.Registry

	handshakes       *prometheus.CounterVec
	resumptions      *prometheus.CounterVec
	fetchSeconds     *prometheus.HistogramVec
	storeSeconds     *prometheus.HistogramVec
	stores           *prometheus.CounterVec
	storedBytes      *prometheus.CounterVec
	clientHello      *prometheus.CounterVec
	certChoice       *prometheus.CounterVec
	onDemand         *prometheus.CounterVec
	upstreamSessions *prometheus.CounterVec
	queueDepth       prometheus.Gauge
	kvSeconds        *prometheus.HistogramVec
	kvErrors         *prometheus.CounterVec
	instCreated      *prometheus.CounterVec
	instDiscarded    *prometheus.CounterVec
	guestFaults      *prometheus.CounterVec
	guestCalls       *prometheus.CounterVec
	reloads          *prometheus.CounterVec
	connsRefused     *prometheus.CounterVec
	reqsRefused      *prometheus.CounterVec
	openConns        *prometheus.GaugeVec
	upstreamErrors   *prometheus.CounterVec
	suspensions      *prometheus.CounterVec
	unrouted         *prometheus.CounterVec
	registry         *prometheus.CounterVec
	certLoads        *prometheus.CounterVec
	handshakeSeconds *prometheus.HistogramVec
	handshakeTime    [3]prometheus.Observer // handshakeSeconds by outcome, resolved once: it is on every handshake
	handshakeFails   *prometheus.CounterVec
	httpResponses    *prometheus.CounterVec
	upstreamSeconds  *prometheus.HistogramVec
	buildInfo        *prometheus.GaugeVec
}

var _ wasmhost.Observer = (*metrics)(nil)

// latencyBuckets span 10 us to 1 s (a KV get in-process is ~20 us), at
// round values, so that their le labels read as written.
var latencyBuckets = []float64{10e-6, 25e-6, 50e-6, 100e-6, 250e-6, 500e-6, 1e-3, 2.5e-3, 5e-3, 10e-3, 25e-3, 50e-3, 100e-3, 250e-3, 500e-3, 1}

// requestBuckets span 1 ms to 10 s, for HTTP requests and handshakes seen
// from the gateway (a client's round trip included).
var requestBuckets = []float64{1e-3, 2.5e-3, 5e-3, 10e-3, 25e-3, 50e-3, 100e-3, 250e-3, 500e-3, 1, 2.5, 5, 10}

// Indexes of metrics.handshakeTime.
const (
	outcomeFull = iota
	outcomeResumed
	outcomeFailed
)

// handshakeFailureReasons are the reason label's values of
// tlsgate_handshake_failures_total, all reported from the start.
var handshakeFailureReasons = []string{"timeout", "client_closed", "client_alert", "no_common_protocol", "refused", "no_certificate", "unrouted", "other"}

func newMetrics() *metrics {
	m := &metrics{reg: prometheus.NewRegistry()}
	f := func(c prometheus.Collector) { m.reg.MustRegister(c) }
	m.handshakes = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "tlsgate_handshakes_total",
		Help: "TLS handshakes by tenant, TLS version and outcome (full, resumed, failed).",
	}, []string{"tenant", "version", "outcome"})
	m.resumptions = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "tlsgate_resumption_attempts_total",
		Help: "Resumption attempts by tenant, mechanism (tls13_psk, tls12_ticket, tls12_session_id) and result (hit, miss, timeout, guest_error, tamper, mismatch, expired, foreign: a ticket not issued for this tenant, refused without asking the guest; declined, repeated, kv_down, suspended, cpu_budget: see docs/operations.md).",
	}, []string{"tenant", "mechanism", "result"})
	m.fetchSeconds = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name: "tlsgate_session_fetch_duration_seconds", Help: "Guest session fetch latency.", Buckets: latencyBuckets,
	}, []string{"tenant"})
	m.storeSeconds = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name: "tlsgate_session_store_duration_seconds", Help: "Guest session store latency.", Buckets: latencyBuckets,
	}, []string{"tenant"})
	m.stores = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "tlsgate_session_stores_total",
		Help: "Session stores by tenant and result (ok; refused: the guest returned ACCESS_DENIED by policy; error; dropped: the queue was full (the oldest is dropped) or closed; stale: it waited longer than store_queue.max_age).",
	}, []string{"tenant", "result"})
	m.storedBytes = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "tlsgate_session_stored_bytes_total",
		Help: "Bytes of sealed session state handed to the guest in stores that succeeded, by tenant: with tlsgate_session_stores_total{result=\"ok\"}, the size of a stored session.",
	}, []string{"tenant"})
	m.clientHello = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "tlsgate_client_hello_total",
		Help: "ClientHellos a listener's client-hello guest decided, by outcome (continue: by SNI; routed; unknown_route: a name the listener has no tenant of, by SNI; refused; error: the guest failed, by SNI).",
	}, []string{"listener", "outcome"})
	m.onDemand = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "tlsgate_acme_on_demand_total",
		Help: "On-demand ACME issuance decisions during handshakes, by tenant and decision (issued: allowed, the certificate is obtained; stored: the fleet's store has it already, loaded, no rate spent; not_served: no wildcard server name matches; not_allowed: not in on_demand.allow; rate_limited: the tenant's rate is spent).",
	}, []string{"tenant", "decision"})
	m.certChoice = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "tlsgate_certificate_choices_total",
		Help: "Certificates a tenant's certificate guest chose, by outcome (chosen; default: it named none, the gateway chose; unknown_name and unsupported: it named one the tenant lacks or the client cannot verify, the gateway chose; refused; error: the guest failed, the gateway chose).",
	}, []string{"tenant", "outcome"})
	m.upstreamSessions = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "tlsgate_upstream_sessions_total",
		Help: "TLS sessions with https:// upstreams, by tenant and result (local: resumed from this gateway's memory; hit, miss, error, unsealable: asked the guest; stored, store_failed, store_dropped: new sessions handed to the guest).",
	}, []string{"tenant", "result"})
	m.queueDepth = prometheus.NewGauge(prometheus.GaugeOpts{
		Name: "tlsgate_store_queue_depth", Help: "Sessions waiting in the store queue.",
	})
	m.kvSeconds = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name: "tlsgate_kv_operation_duration_seconds", Help: "Key-value operations started by guests, by operation.", Buckets: latencyBuckets,
	}, []string{"tenant", "op"})
	m.kvErrors = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "tlsgate_kv_operation_errors_total", Help: "Key-value operations that failed (a missing key is not a failure), by operation and kind.",
	}, []string{"tenant", "op", "kind"})
	m.instCreated = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "tlsgate_guest_instances_created_total", Help: "Guest instances created.",
	}, []string{"tenant"})
	m.instDiscarded = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "tlsgate_guest_instances_discarded_total", Help: "Guest instances closed, by reason (trap, timeout, memory, misuse, idle, closed, init; budget: the runtime memory budget was past; evicted: idle longest when the budget needed room for another instance).",
	}, []string{"tenant", "reason"})
	m.guestFaults = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "tlsgate_guest_faults_total", Help: "Guest calls that failed, by export and kind (trap, timeout, memory, misuse, status, init).",
	}, []string{"tenant", "export", "kind"})
	m.guestCalls = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "tlsgate_guest_calls_total", Help: "Guest export calls.",
	}, []string{"tenant", "export"})
	m.reloads = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "tlsgate_config_reloads_total", Help: "Configuration reloads by result (ok, refused).",
	}, []string{"result"})
	m.connsRefused = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "tlsgate_connections_refused_total",
		Help: "Client connections closed at accept, by listener and reason (listener_full: limits.max_connections; client_full: limits.max_connections_per_client).",
	}, []string{"listener", "reason"})
	m.reqsRefused = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "tlsgate_requests_refused_total",
		Help: "HTTP requests answered 429, by listener and reason (client_full: limits.max_requests_per_client).",
	}, []string{"listener", "reason"})
	m.openConns = prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "tlsgate_open_connections", Help: "Client connections open now, by listener.",
	}, []string{"listener"})
	m.upstreamErrors = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "tlsgate_upstream_errors_total",
		Help: "HTTP requests that failed towards the tenant's upstream (502): unreachable, timed out, or the client's body cut short.",
	}, []string{"tenant"})
	m.suspensions = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "tlsgate_guest_suspensions_total",
		Help: "Times a tenant's guest was suspended after repeated faults (its handshakes are then full, with no guest call).",
	}, []string{"tenant"})
	m.unrouted = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "tlsgate_handshakes_unrouted_total",
		Help: "Handshakes that failed before a tenant was chosen, by listener and reason (bad_sni: not a DNS host name; unknown_sni: no tenant serves it and there is no default; no_client_hello: not TLS, or the client gave up first; no_certificate: a registry tenant's certificate could not be loaded from NATS).",
	}, []string{"listener", "reason"})
	m.registry = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "tlsgate_registry_changes_total",
		Help: "Tenant registry changes seen by this gateway, by result (applied, removed, refused: the document did not build here, and the tenant's previous version, if any, keeps serving).",
	}, []string{"result"})
	m.certLoads = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "tlsgate_registry_certificate_loads_total",
		Help: "Registry tenants' certificates loaded from NATS (on a tenant's first handshake, or when its document changes), by result (ok, error).",
	}, []string{"result"})
	m.handshakeSeconds = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name:    "tlsgate_handshake_duration_seconds",
		Help:    "TLS handshakes from the connection's accept to the handshake's end (the client's round trips included), by outcome (full, resumed, failed); not by tenant, to keep 10,000 tenants' histograms out of every scrape.",
		Buckets: requestBuckets,
	}, []string{"outcome"})
	m.handshakeFails = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "tlsgate_handshake_failures_total",
		Help: "Failed TLS handshakes by listener and reason (timeout: handshake_timeout passed; client_closed: the client went away; client_alert: the client sent an alert, such as an unknown CA; no_common_protocol: no TLS version, cipher suite or group in common; refused: a client-hello or certificate guest refused it; no_certificate: none to present yet (ACME) or a registry certificate did not load; unrouted: no tenant for its SNI, see tlsgate_handshakes_unrouted_total; other).",
	}, []string{"listener", "reason"})
	m.httpResponses = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "tlsgate_http_responses_total",
		Help: "HTTP responses to clients by tenant and status code (the gateway's own 421, 429 and 502 included).",
	}, []string{"tenant", "code"})
	m.upstreamSeconds = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name:    "tlsgate_upstream_request_duration_seconds",
		Help:    "HTTP requests proxied to a tenant's upstream, from the request to the end of the response, by tenant; their count is the number of upstream requests (errors in tlsgate_upstream_errors_total).",
		Buckets: requestBuckets,
	}, []string{"tenant"})
	m.buildInfo = prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "tlsgate_build_info",
		Help: "Always 1: the running tlsgate's version, Go version and whether TLS 1.2 Session ID resumption is compiled in.",
	}, []string{"version", "goversion", "session_id"})
	m.reloads.WithLabelValues("ok")
	m.reloads.WithLabelValues("refused")
	for i, o := range [...]string{outcomeFull: "full", outcomeResumed: "resumed", outcomeFailed: "failed"} {
		m.handshakeTime[i] = m.handshakeSeconds.WithLabelValues(o)
	}
	for _, c := range []prometheus.Collector{m.handshakeSeconds, m.handshakeFails, m.httpResponses, m.upstreamSeconds, m.buildInfo, m.registry, m.certLoads, m.unrouted, m.suspensions, m.upstreamErrors, m.connsRefused, m.reqsRefused, m.openConns, m.handshakes, m.resumptions, m.fetchSeconds, m.storeSeconds,
		m.stores, m.storedBytes, m.clientHello, m.certChoice, m.onDemand, m.upstreamSessions, m.queueDepth, m.kvSeconds, m.kvErrors, m.instCreated, m.instDiscarded, m.guestFaults,
		m.guestCalls, m.reloads, collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{})} {
		f(c)
	}
	return m
}

func versionLabel(v uint16) string {
	switch v {
	case 0x0304:
		return "1.3"
	case 0x0303:
		return "1.2"
	case 0x0302:
		return "1.1"
	case 0x0301:
		return "1.0"
	}
	return "unknown"
}

func mechanismLabel(m abi.Mechanism) string {
	switch m {
	case abi.MechanismTLS13PSK:
		return "tls13_psk"
	case abi.MechanismTLS12Ticket:
		return "tls12_ticket"
	case abi.MechanismTLS12ID:
		return "tls12_session_id"
	}
	return "unknown"
}

func (m *metrics) handshake(tenant string, version uint16, outcome string) {
	m.handshakes.WithLabelValues(tenant, versionLabel(version), outcome).Inc()
}

// listenerSeries makes a listener's series exist from the start, at 0, so
// that a rate() over them has a beginning.
func (m *metrics) listenerSeries(listener string) {
	for _, r := range handshakeFailureReasons {
		m.handshakeFails.WithLabelValues(listener, r)
	}
	m.openConns.WithLabelValues(listener)
}

// tenantSeries makes a new tenant's handshake counters exist at 0: the
// few a dashboard's rate() needs, not every label combination (10,000
// tenants would make every scrape megabytes).
func (m *metrics) tenantSeries(tenant string, tls13Only bool) {
	for _, v := range []string{"1.2", "1.3"} {
		if v == "1.2" && tls13Only {
			continue
		}
		for _, o := range []string{"full", "resumed", "failed"} {
			m.handshakes.WithLabelValues(tenant, v, o)
		}
	}
}

// forgetTenant deletes the series of a tenant no longer served: with
// tenants coming and going by the thousand, they would pile up otherwise.
func (m *metrics) forgetTenant(tenant string) {
	l := prometheus.Labels{"tenant": tenant}
	for _, v := range []interface{ DeletePartialMatch(prometheus.Labels) int }{
		m.handshakes, m.resumptions, m.fetchSeconds, m.storeSeconds, m.stores, m.storedBytes, m.certChoice,
		m.onDemand, m.upstreamSessions, m.kvSeconds, m.kvErrors, m.instCreated, m.instDiscarded, m.guestFaults,
		m.guestCalls, m.upstreamErrors, m.suspensions, m.httpResponses, m.upstreamSeconds,
	} {
		v.DeletePartialMatch(l)
	}
}

func (m *metrics) resumption(tenant string, mech abi.Mechanism, r resumeResult) {
	if r == resultNone {
		return
	}
	m.resumptions.WithLabelValues(tenant, mechanismLabel(mech), string(r)).Inc()
}

func (m *metrics) connRefused(listener string, r refusal) {
	m.connsRefused.WithLabelValues(listener, string(r)).Inc()
}

func (m *metrics) requestRefused(listener string, r refusal) {
	m.reqsRefused.WithLabelValues(listener, string(r)).Inc()
}

func (m *metrics) fetchDone(tenant string, d time.Duration) {
	m.fetchSeconds.WithLabelValues(tenant).Observe(d.Seconds())
}

func (m *metrics) storeDone(tenant string, size int, d time.Duration, err error) {
	m.storeSeconds.WithLabelValues(tenant).Observe(d.Seconds())
	r := storeResult(err)
	m.stores.WithLabelValues(tenant, r).Inc()
	if r == "ok" {
		m.storedBytes.WithLabelValues(tenant).Add(float64(size))
	}
}

// storeResult is the result label of a store that ran: "ok", "refused"
// (the guest declined to keep the session, by its own policy: ACCESS_DENIED)
// or "error".
func storeResult(err error) string {
	var ge *wasmhost.GuestError
	switch {
	case err == nil:
		return "ok"
	case errors.As(err, &ge) && ge.Kind == wasmhost.FaultStatus && ge.Status == abi.StatusAccessDenied:
		return "refused"
	}
	return "error"
}

// storeDropped counts a store never run: "dropped" (queue full, or
// shutting down) or "stale" (it waited longer than store_queue.max_age).
func (m *metrics) storeDropped(tenant, result string) { m.stores.WithLabelValues(tenant, result).Inc() }

// CallDone implements wasmhost.Observer.
func (m *metrics) CallDone(tenant, export string, _ time.Duration, err error) {
	m.guestCalls.WithLabelValues(tenant, export).Inc()
	var ge *wasmhost.GuestError
	if errors.As(err, &ge) {
		m.guestFaults.WithLabelValues(tenant, export, string(ge.Kind)).Inc()
	}
}

// InstanceCreated implements wasmhost.Observer.
func (m *metrics) InstanceCreated(tenant string) { m.instCreated.WithLabelValues(tenant).Inc() }

// InstanceDiscarded implements wasmhost.Observer.
func (m *metrics) InstanceDiscarded(tenant, reason string) {
	m.instDiscarded.WithLabelValues(tenant, reason).Inc()
}

// GuestSuspended implements wasmhost.Observer.
func (m *metrics) GuestSuspended(tenant string, _ time.Duration) {
	m.suspensions.WithLabelValues(tenant).Inc()
}

// KVOp implements wasmhost.Observer.
func (m *metrics) KVOp(tenant, op string, d time.Duration, err error) {
	m.kvSeconds.WithLabelValues(tenant, op).Observe(d.Seconds())
	switch {
	case err == nil, errors.Is(err, wasmhost.ErrKeyNotFound), errors.Is(err, wasmhost.ErrKeyExists):
	case errors.Is(err, wasmhost.ErrUnavailable):
		m.kvErrors.WithLabelValues(tenant, op, "unavailable").Inc()
	case errors.Is(err, wasmhost.ErrLimitExceeded):
		m.kvErrors.WithLabelValues(tenant, op, "limit").Inc()
	case errors.Is(err, context.DeadlineExceeded), errors.Is(err, context.Canceled):
		m.kvErrors.WithLabelValues(tenant, op, "timeout").Inc()
	default:
		m.kvErrors.WithLabelValues(tenant, op, "internal").Inc()
	}
}
