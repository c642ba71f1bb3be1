package gateway

import (
	"context"
	"crypto/tls"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"golang.org/x/time/rate"

	"github.com/tlsgate/tlsgate/gateway/config"
	"github.com/tlsgate/tlsgate/wasmhost"
)

// trackedConn is the raw connection under a tls.Conn; GetConfigForClient
// attaches the connection's session hooks to it so the handshake goroutine
// can commit stores once Handshake has returned.
type trackedConn struct {
	net.Conn
	sessions *connSessions
	unrouted string                     // why configForClient chose no tenant, if it did not
	hello    *wasmhost.ClientHelloInput // what guests read of the ClientHello, made once (helloInput)
	sni      string                     // the ClientHello's, for logs
	versions []uint16                   // the ClientHello's supported versions, read only if the handshake fails
	release  func()                     // gives the connection's place back; run once, on Close
	once     sync.Once
}

// Close closes the connection and gives its place back to the listener.
func (c *trackedConn) Close() error {
	err := c.Conn.Close()
	if c.release != nil {
		c.once.Do(c.release)
	}
	return err
}

type tenantKey struct{}

// routedKey is the request context key of the SNI a client-hello guest
// routed the connection on.
type routedKey struct{}

// listener is one TLS listening socket. It outlives snapshots: every
// handshake asks the gateway for the snapshot current at that moment.
type listener struct {
	g     *Gateway
	idx   int
	ln    net.Listener
	name  string // its address, as a metric label
	tls   *tls.Config
	http  *http.Server
	conn  *connQueue
	tcp   tcpProxy
	conns *addrLimiter // open connections
	reqs  *addrLimiter // HTTP requests in flight
	open  prometheus.Gauge
	wg    sync.WaitGroup

	failMu  sync.Mutex
	failLog map[string]*rate.Sometimes // by failure reason: logFailure's rate
}

func (g *Gateway) newListener(idx int, ln net.Listener, limits config.Limits) *listener {
	l := &listener{g: g, idx: idx, ln: ln, name: ln.Addr().String(), conn: newConnQueue(ln.Addr()),
		conns:   newAddrLimiter(limits.MaxConnections, limits.MaxConnectionsPerClient),
		reqs:    newAddrLimiter(0, limits.MaxRequestsPerClient),
		open:    g.metrics.openConns.WithLabelValues(ln.Addr().String()),
		failLog: map[string]*rate.Sometimes{}}
	g.metrics.listenerSeries(l.name)
	l.tls = &tls.Config{GetConfigForClient: l.configForClient}
	l.http = &http.Server{
		Handler:           http.HandlerFunc(l.serveHTTP),
		ReadHeaderTimeout: limits.RequestHeaderTimeout,
		ReadTimeout:       limits.RequestReadTimeout,
		IdleTimeout:       limits.IdleTimeout,
		HTTP2:             &http.HTTP2Config{MaxConcurrentStreams: limits.MaxStreamsPerConnection},
		ErrorLog:          slog.NewLogLogger(g.log.Handler(), slog.LevelDebug),
		ConnContext: func(ctx context.Context, c net.Conn) context.Context {
			if tc, ok := c.(*tls.Conn); ok {
				if raw, ok := tc.NetConn().(*trackedConn); ok && raw.sessions != nil {
					ctx = context.WithValue(ctx, tenantKey{}, raw.sessions.t.name)
					if raw.sessions.routedSNI != "" {
						ctx = context.WithValue(ctx, routedKey{}, raw.sessions.routedSNI)
					}
					return ctx
				}
			}
			return ctx
		},
	}
	return l
}

func (l *listener) start() {
	l.wg.Add(2)
	go func() {
		defer l.wg.Done()
		l.http.Serve(l.conn)
	}()
	go func() {
		defer l.wg.Done()
		l.accept()
	}()
}

func (l *listener) accept() {
	var delay time.Duration
	for {
		c, err := l.ln.Accept()
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			// Back off on transient errors (EMFILE...), like net/http.
			delay = min(max(2*delay, 5*time.Millisecond), time.Second)
			l.g.log.Warn("accept failed", "listener", l.ln.Addr().String(), "err", err, "retry_in", delay)
			time.Sleep(delay)
			continue
		}
		delay = 0
		client := clientOfConn(c)
		if r := l.conns.acquire(client); r != "" {
			// Refused before any TLS work: a client at its share, or a
			// listener at its total, costs one accept and one close.
			l.g.metrics.connRefused(l.name, r)
			c.Close()
			continue
		}
		l.open.Inc()
		l.wg.Add(1)
		go func() {
			defer l.wg.Done()
			l.handle(&trackedConn{Conn: c, release: func() {
				l.conns.release(client)
				l.open.Dec()
			}})
		}()
	}
}

// configForClient picks the tenant by SNI and gives this connection its own
// session hooks, which carry the handshake's context.
func (l *listener) configForClient(hello *tls.ClientHelloInfo) (*tls.Config, error) {
	raw, _ := hello.Conn.(*trackedConn)
	if raw == nil {
		return nil, errors.New("gateway: connection not accepted by a tlsgate listener")
	}
	raw.sni, raw.versions = hello.ServerName, hello.SupportedVersions
	if err := checkSNI(hello.ServerName); err != nil {
		raw.unrouted = "bad_sni"
		return nil, err
	}
	snap := l.g.snap.Load()
	var t *tenant
	// A reload may close the guest of the snapshot loaded here before its
	// call: then ask the guest of the snapshot that replaced it, so that a
	// reload never lets a refused client through.
	for try := 0; ; try++ {
		h := helloOf(snap, l.idx)
		if h == nil {
			break
		}
		routed, err := l.clientHello(h, snap, hello, try < 3)
		if errors.Is(err, wasmhost.ErrPoolClosed) {
			snap = l.g.snap.Load()
			continue
		}
		if err != nil {
			raw.unrouted = "refused"
			return nil, err
		}
		t = routed
		break
	}
	routedByGuest := t != nil
	if t == nil {
		var err error
		if t, err = snap.routers[l.idx].route(hello.ServerName); err != nil {
			raw.unrouted = "unknown_sni"
			return nil, err
		}
	}
	cfg := t.tlsBase.Clone()
	if t.regCert != nil {
		certs, err := t.regCert.get(hello.Context(), l.g.kv, snap.seal, l.g.metrics, l.g.log)
		if err != nil {
			raw.unrouted = "no_certificate" // get logged it, at most once a second
			return nil, err
		}
		cfg.Certificates = certs
	}
	switch {
	case t.acme != nil:
		// certmagic's GetCertificate, set at build: the only certificate source
	case t.picker:
		names, in := registryCertNames, []byte(nil)
		if t.regCert == nil {
			names, in = t.names, t.certIn
		}
		cfg.GetCertificate = l.certificatePicker(t, cfg.Certificates, names, in)
		cfg.Certificates = nil // so that crypto/tls asks GetCertificate even without SNI
	}
	cs := &connSessions{ctx: hello.Context(), t: t, seal: snap.seal, clientAddr: raw.RemoteAddr().String(),
		obs: l.g.metrics, stores: l.g.stores, kvUp: l.g.kv.Available}
	if routedByGuest {
		cs.routedSNI = strings.TrimSuffix(hello.ServerName, ".")
	}
	raw.sessions = cs
	cfg.WrapSession = cs.wrap
	cfg.UnwrapSession = cs.unwrap
	setSessionIDHooks(cfg, cs)
	return cfg, nil
}

func (l *listener) handle(raw *trackedConn) {
	c := raw.Conn
	start := time.Now()
	tc := tls.Server(raw, l.tls)
	ctx, cancel := context.WithTimeout(l.g.ctx, l.g.snap.Load().cfg.HandshakeTimeout)
	err := tc.HandshakeContext(ctx)
	cancel()
	raw.hello = nil // only the handshake's guests read it
	cs := raw.sessions
	if err != nil {
		l.g.metrics.handshakeTime[outcomeFailed].Observe(time.Since(start).Seconds())
		reason := failureReason(err, raw)
		l.g.metrics.handshakeFails.WithLabelValues(l.name, reason).Inc()
		tenant := ""
		if cs == nil {
			why := raw.unrouted
			if why == "" {
				why = "no_client_hello" // not TLS, or the client gave up first
			}
			l.g.metrics.unrouted.WithLabelValues(l.name, why).Inc()
		} else {
			tenant = cs.t.name
			l.g.metrics.handshake(cs.t.name, failedVersion(raw, tc), "failed")
			l.g.metrics.resumption(cs.t.name, cs.mechanism, cs.outcome(tc.ConnectionState()))
			for _, p := range cs.pending {
				l.g.stores.abandon(p) // never stored: the handshake failed
			}
		}
		l.logFailure(reason, c.RemoteAddr().String(), tenant, raw.sni, err)
		tc.Close()
		return
	}
	st := tc.ConnectionState()
	outcome, i := "full", outcomeFull
	if st.DidResume {
		outcome, i = "resumed", outcomeResumed
	}
	l.g.metrics.handshakeTime[i].Observe(time.Since(start).Seconds())
	l.g.metrics.handshake(cs.t.name, st.Version, outcome)
	l.g.metrics.resumption(cs.t.name, cs.mechanism, cs.outcome(st))
	// Only now, with the client's Finished verified, do sessions get stored.
	for _, p := range cs.pending {
		l.g.stores.enqueue(p)
	}
	cs.pending = nil
	if st.NegotiatedProtocol == acmeProtocol {
		tc.Close() // a CA's TLS-ALPN-01 validation: the handshake was all it wanted
		return
	}
	if cs.t.tcpAddr != "" {
		l.tcp.serve(l.g.ctx, tc, cs.t.tcpAddr, l.g.log)
		return
	}
	if !l.conn.push(tc) {
		tc.Close()
	}
}

// serveHTTP sends a request to its tenant's upstream, as the tenant is in
// the snapshot current now. A request whose Host belongs to another tenant
// than the connection's SNI (HTTP/2 connection reuse) is refused with 421.
func (l *listener) serveHTTP(rw http.ResponseWriter, r *http.Request) {
	name, _ := r.Context().Value(tenantKey{}).(string)
	w := &statusWriter{ResponseWriter: rw}
	defer func() { l.g.metrics.httpResponses.WithLabelValues(name, strconv.Itoa(w.code())).Inc() }()
	client := clientOfRequest(r.RemoteAddr)
	if why := l.reqs.acquire(client); why != "" {
		l.g.metrics.requestRefused(l.name, why)
		w.Header().Set("Retry-After", "1")
		http.Error(w, "429 too many requests: too many requests in flight from your address", http.StatusTooManyRequests)
		return
	}
	defer l.reqs.release(client)
	snap := l.g.snap.Load()
	t := snap.tenant(name)
	if t == nil || t.handler == nil {
		http.Error(w, "421 misdirected request: tenant not served here", http.StatusMisdirectedRequest)
		return
	}
	host := r.Host
	if h, _, err := net.SplitHostPort(host); err == nil {
		host = h
	}
	// A connection its listener's client-hello guest routed serves the
	// name it was routed on: its SNI is not the router's to judge.
	routed, _ := r.Context().Value(routedKey{}).(string)
	if net.ParseIP(host) == nil && host != "" && !strings.EqualFold(strings.TrimSuffix(host, "."), routed) {
		if ht, err := snap.routers[l.idx].route(host); err != nil || ht.name != t.name {
			http.Error(w, "421 misdirected request: host belongs to another tenant", http.StatusMisdirectedRequest)
			return
		}
	}
	if t.proxied {
		start := time.Now()
		defer func() { l.g.metrics.upstreamSeconds.WithLabelValues(t.name).Observe(time.Since(start).Seconds()) }()
	}
	t.handler.ServeHTTP(w, r)
}

// statusWriter records the status code of a response. Unwrap lets
// http.ResponseController (the reverse proxy's flushes) reach the
// connection's writer.
type statusWriter struct {
	http.ResponseWriter
	status int
}

func (w *statusWriter) WriteHeader(code int) {
	if w.status == 0 && code >= 200 {
		w.status = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	return w.ResponseWriter.Write(b)
}

func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// code is the status sent, 200 for a handler that wrote nothing.
func (w *statusWriter) code() int {
	if w.status == 0 {
		return http.StatusOK
	}
	return w.status
}

// failureReason classifies a failed handshake for
// tlsgate_handshake_failures_total.
func failureReason(err error, raw *trackedConn) string {
	var alert tls.AlertError
	var ne net.Error
	var op *net.OpError
	switch {
	case raw.unrouted == "refused" || errors.Is(err, errCertRefused):
		return "refused"
	case raw.unrouted == "no_certificate":
		return "no_certificate"
	case raw.unrouted != "":
		return "unrouted"
	case errors.Is(err, context.DeadlineExceeded) || (errors.As(err, &ne) && ne.Timeout()):
		return "timeout"
	case errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, syscall.ECONNRESET) || errors.Is(err, net.ErrClosed):
		return "client_closed"
	case errors.As(err, &alert) || (errors.As(err, &op) && op.Op == "remote error"):
		return "client_alert" // crypto/tls reports a peer's alert as a "remote error"
	}
	msg := err.Error()
	switch {
	case strings.Contains(msg, "no mutual") || strings.Contains(msg, "no cipher suite") || strings.Contains(msg, "unsupported versions") ||
		strings.Contains(msg, "no supported versions") || strings.Contains(msg, "protocol version"):
		return "no_common_protocol"
	case strings.Contains(msg, "no certificate") || strings.Contains(msg, "no ACME") || strings.Contains(msg, "no certificates"):
		return "no_certificate"
	}
	return "other"
}

// failedVersion is the TLS version a failed handshake was for: the one
// negotiated, else the highest the client offered (0 before a ClientHello).
func failedVersion(raw *trackedConn, tc *tls.Conn) uint16 {
	if v := tc.ConnectionState().Version; v != 0 {
		return v
	}
	var best uint16
	for _, v := range raw.versions {
		if v <= tls.VersionTLS13 && v > best {
			best = v
		}
	}
	return best
}

// logFailure logs a failed handshake at info, at most 3 times per reason
// and then once a minute, and every one at debug: a scanner on the
// Internet must not fill the log, and an operator must see why clients
// fail (counts in tlsgate_handshake_failures_total).
func (l *listener) logFailure(reason, client, tenant, sni string, err error) {
	l.failMu.Lock()
	s := l.failLog[reason]
	if s == nil {
		s = &rate.Sometimes{First: 3, Interval: time.Minute}
		l.failLog[reason] = s
	}
	l.failMu.Unlock()
	logged := false
	s.Do(func() {
		logged = true
		l.g.log.Info("handshake failed (logged 3 times per reason, then once a minute; all are counted in tlsgate_handshake_failures_total)",
			"listener", l.name, "reason", reason, "client", client, "sni", sni, "tenant", tenant, "err", err)
	})
	if !logged {
		l.g.log.Debug("handshake failed", "listener", l.name, "reason", reason, "client", client, "sni", sni, "tenant", tenant, "err", err)
	}
}

// shutdown stops accepting, lets HTTP requests and TCP streams finish until
// ctx is done, then cuts what is left.
func (l *listener) shutdown(ctx context.Context) error {
	l.ln.Close()
	err := l.http.Shutdown(ctx)
	if err != nil {
		l.http.Close()
	}
	l.tcp.shutdown(ctx)
	l.conn.Close()
	l.wg.Wait()
	return err
}

// connQueue is a net.Listener fed with handshaken connections, for
// http.Server.Serve.
type connQueue struct {
	addr  net.Addr
	ch    chan net.Conn
	done  chan struct{}
	close sync.Once
}

func newConnQueue(addr net.Addr) *connQueue {
	return &connQueue{addr: addr, ch: make(chan net.Conn), done: make(chan struct{})}
}

func (q *connQueue) push(c net.Conn) bool {
	select {
	case q.ch <- c:
		return true
	case <-q.done:
		return false
	}
}

func (q *connQueue) Accept() (net.Conn, error) {
	select {
	case c := <-q.ch:
		return c, nil
	case <-q.done:
		return nil, net.ErrClosed
	}
}

func (q *connQueue) Close() error {
	q.close.Do(func() { close(q.done) })
	return nil
}

func (q *connQueue) Addr() net.Addr { return q.addr }
