package gateway

import (
	"context"
	"crypto/tls"
	"fmt"
	"html"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"strings"
	"sync"
	"time"

	"golang.org/x/time/rate"

	"github.com/tlsgate/tlsgate/gateway/config"
)

// newReverseProxy proxies to an http:// or https:// upstream with
// X-Forwarded-For/Proto/Host set; an unreachable upstream is a 502 with a
// short body. At most limits.MaxUpstreamConnections connections are open
// to it, and each request waits at most limits.UpstreamResponseTimeout for
// its response headers. Errors are counted (tlsgate_upstream_errors_total)
// and logged at most a few times per interval, since a client can cause
// them at will (a body it never finishes).
func newReverseProxy(tenant string, target *url.URL, tlsConf *tls.Config, limits config.Limits, m *metrics, log *slog.Logger) http.Handler {
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.TLSClientConfig = tlsConf // nil for http://
	tr.MaxIdleConnsPerHost = 64
	tr.MaxConnsPerHost = limits.MaxUpstreamConnections
	tr.ResponseHeaderTimeout = limits.UpstreamResponseTimeout
	tr.ForceAttemptHTTP2 = target.Scheme == "https"
	logSome := &rate.Sometimes{First: 5, Interval: 10 * time.Second}
	return &httputil.ReverseProxy{
		Rewrite: func(pr *httputil.ProxyRequest) {
			pr.SetURL(target)
			pr.SetXForwarded()
		},
		Transport: tr,
		ErrorHandler: func(w http.ResponseWriter, r *http.Request, err error) {
			m.upstreamErrors.WithLabelValues(tenant).Inc()
			logSome.Do(func() {
				log.Warn("upstream error (logged 5 times, then once per 10s; all are counted in tlsgate_upstream_errors_total)",
					"tenant", tenant, "upstream", target.Redacted(), "err", err)
			})
			http.Error(w, "502 bad gateway: upstream unavailable", http.StatusBadGateway)
		},
	}
}

// builtinPage answers GET / with what the TLS session looks like, so a
// user can see resumption at work with curl or a browser.
func builtinPage(tenant string) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/" {
			http.NotFound(w, r)
			return
		}
		st := r.TLS
		resumed := "no (full handshake)"
		if st.DidResume { // r.TLS: every connection here is TLS
			resumed = "yes"
		}
		lines := [][2]string{
			{"tenant", tenant},
			{"server name", st.ServerName},
			{"tls version", tls.VersionName(st.Version)},
			{"cipher suite", tls.CipherSuiteName(st.CipherSuite)},
			{"alpn", st.NegotiatedProtocol},
			{"http protocol", r.Proto},
			{"session resumed", resumed},
			{"client", r.RemoteAddr},
		}
		var b strings.Builder
		if strings.Contains(r.Header.Get("Accept"), "text/html") {
			w.Header().Set("Content-Type", "text/html; charset=utf-8")
			b.WriteString("<!doctype html><title>tlsgate</title><h1>tlsgate</h1><table>")
			for _, l := range lines {
				fmt.Fprintf(&b, "<tr><th align=left>%s</th><td>%s</td></tr>", html.EscapeString(l[0]), html.EscapeString(l[1]))
			}
			b.WriteString("</table>")
		} else {
			w.Header().Set("Content-Type", "text/plain; charset=utf-8")
			b.WriteString("tlsgate\n")
			for _, l := range lines {
				fmt.Fprintf(&b, "%-16s %s\n", l[0]+":", l[1])
			}
		}
		io.WriteString(w, b.String())
	})
}

// tcpProxy copies bytes both ways between a client and a tcp:// upstream,
// passing half-closes through.
type tcpProxy struct {
	dialer net.Dialer
	mu     sync.Mutex
	closed bool // set by shutdown: no new streams
	conns  map[net.Conn]struct{}
	wg     sync.WaitGroup
}

func (p *tcpProxy) track(cs ...net.Conn) {
	p.mu.Lock()
	if p.conns == nil {
		p.conns = map[net.Conn]struct{}{}
	}
	for _, c := range cs {
		p.conns[c] = struct{}{}
	}
	p.mu.Unlock()
}

func (p *tcpProxy) untrack(cs ...net.Conn) {
	p.mu.Lock()
	for _, c := range cs {
		delete(p.conns, c)
	}
	p.mu.Unlock()
}

// serve proxies client to addr and returns when both directions are done.
func (p *tcpProxy) serve(ctx context.Context, client *tls.Conn, addr string, log *slog.Logger) {
	// A handshake may finish after shutdown began: it gets no stream, and
	// wg.Add never races shutdown's Wait.
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		client.Close()
		return
	}
	p.wg.Add(1)
	p.mu.Unlock()
	defer p.wg.Done()
	dctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	up, err := p.dialer.DialContext(dctx, "tcp", addr)
	cancel()
	if err != nil {
		log.Warn("tcp upstream unreachable", "upstream", addr, "err", err)
		client.Close()
		return
	}
	p.track(client, up)
	defer p.untrack(client, up)
	var both sync.WaitGroup
	both.Add(2)
	go func() {
		defer both.Done()
		io.Copy(up, client)
		if tc, ok := up.(*net.TCPConn); ok {
			tc.CloseWrite()
		}
	}()
	go func() {
		defer both.Done()
		io.Copy(client, up)
		client.CloseWrite()
	}()
	both.Wait()
	client.Close()
	up.Close()
}

// shutdown waits for proxied streams to end until ctx is done, then cuts them.
func (p *tcpProxy) shutdown(ctx context.Context) {
	p.mu.Lock()
	p.closed = true
	p.mu.Unlock()
	done := make(chan struct{})
	go func() { p.wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-ctx.Done():
		p.mu.Lock()
		for c := range p.conns {
			c.Close()
		}
		p.mu.Unlock()
		<-done
	}
}
