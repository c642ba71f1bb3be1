package gateway

import (
	"context"
	"crypto/tls"
	"encoding/pem"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"os"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tlsgate/tlsgate/gateway/config"
)

// resumingUpstream is an https:// upstream that counts its handshakes,
// full and resumed, and the CA file that verifies it.
type resumingUpstream struct {
	srv           *httptest.Server
	caFile        string
	full, resumed atomic.Int64
}

func startResumingUpstream(t *testing.T, maxVersion uint16) *resumingUpstream {
	t.Helper()
	u := &resumingUpstream{}
	u.srv = httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "upstream says hello")
	}))
	u.srv.TLS = &tls.Config{MaxVersion: maxVersion}
	u.srv.Config.ConnState = func(c net.Conn, s http.ConnState) {
		if s != http.StateActive {
			return
		}
		if tc, ok := c.(*tls.Conn); ok && tc.ConnectionState().HandshakeComplete {
			if tc.ConnectionState().DidResume {
				u.resumed.Add(1)
			} else {
				u.full.Add(1)
			}
		}
	}
	u.srv.StartTLS()
	t.Cleanup(u.srv.Close)
	u.caFile = filepath.Join(t.TempDir(), "upstream-ca.pem")
	if err := os.WriteFile(u.caFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: u.srv.Certificate().Raw}), 0o644); err != nil {
		t.Fatal(err)
	}
	return u
}

// getThrough sends GET / for sni through gateway g and returns the body.
func getThrough(t *testing.T, g *Gateway, sni string) string {
	t.Helper()
	c := &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{
		TLSClientConfig: &tls.Config{InsecureSkipVerify: true, ServerName: sni},
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			return (&net.Dialer{}).DialContext(ctx, "tcp", g.addr())
		},
	}}
	defer c.CloseIdleConnections()
	resp, err := c.Get("https://" + sni + "/")
	if err != nil {
		t.Fatalf("GET through %s: %v", g.addr(), err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET through %s: %s %s", g.addr(), resp.Status, b)
	}
	return string(b)
}

// Two gateways share NATS: the upstream session the first one made with
// an https:// upstream, stored through the reference guest, resumes on the
// second one's first connection to that upstream (TLS 1.3 and 1.2). A
// tenant without a guest still resumes within one gateway.
func TestUpstreamSessionsAcrossGateways(t *testing.T) {
	for _, v := range []uint16{tls.VersionTLS13, tls.VersionTLS12} {
		t.Run(tls.VersionName(v), func(t *testing.T) {
			up := startResumingUpstream(t, v)
			addr, dir := freePort(t), t.TempDir()
			srv := startNATS(t, addr, dir)
			t.Cleanup(func() { srv.Close(context.Background()) })
			tn := cacheTenant("web", "web.test")
			tn.Upstream, tn.UpstreamCAFile = up.srv.URL, up.caFile
			gws := startJoined(t, 2, addr, dir, tn)
			a, b := gws[0], gws[1]
			if body := getThrough(t, a, "web.test"); body != "upstream says hello" {
				t.Fatalf("body %q", body)
			}
			eventually(t, "gateway A to store its upstream session", func() error {
				if n := counterValue(t, a, "tlsgate_upstream_sessions_total", "result", "stored"); n < 1 {
					return fmt.Errorf("stored = %v", n)
				}
				return nil
			})
			if got := up.full.Load(); got != 1 {
				t.Fatalf("upstream saw %d full handshakes from A, want 1", got)
			}
			getThrough(t, b, "web.test")
			if up.resumed.Load() != 1 || up.full.Load() != 1 {
				t.Fatalf("B's first upstream connection: upstream saw %d full and %d resumed handshakes in all, want 1 and 1",
					up.full.Load(), up.resumed.Load())
			}
			if n := counterValue(t, b, "tlsgate_upstream_sessions_total", "result", "hit"); n != 1 {
				t.Errorf("B's guest hits = %v, want 1", n)
			}
		})
	}
	t.Run("faulty guest", func(t *testing.T) {
		up := startResumingUpstream(t, tls.VersionTLS13)
		tn := cacheTenant("web", "web.test")
		tn.Guest = &config.Guest{Module: watGuest(t, "upstream_fault")}
		tn.Upstream, tn.UpstreamCAFile = up.srv.URL, up.caFile
		g := startGateway(t, testConfig(t, tn))
		if body := getThrough(t, g, "web.test"); body != "upstream says hello" {
			t.Fatalf("body %q", body)
		}
		if n := counterValue(t, g, "tlsgate_upstream_sessions_total", "result", "error"); n != 1 {
			t.Errorf("upstream session fetch errors = %v, want 1 (the trap)", n)
		}
		eventually(t, "the failed store to be counted", func() error {
			if n := counterValue(t, g, "tlsgate_upstream_sessions_total", "result", "store_failed"); n < 1 {
				return fmt.Errorf("store_failed = %v", n)
			}
			return nil
		})
		if up.full.Load() != 1 {
			t.Errorf("upstream saw %d full handshakes, want 1", up.full.Load())
		}
	})
	t.Run("no guest", func(t *testing.T) {
		up := startResumingUpstream(t, tls.VersionTLS13)
		tn := cacheTenant("web", "web.test")
		tn.Guest = nil
		tn.Upstream, tn.UpstreamCAFile = up.srv.URL, up.caFile
		g := startGateway(t, testConfig(t, tn))
		getThrough(t, g, "web.test")
		// A fresh upstream connection for the second request.
		g.snap.Load().tenant("web").handler.(*httputil.ReverseProxy).Transport.(*http.Transport).CloseIdleConnections()
		getThrough(t, g, "web.test")
		if up.full.Load() != 1 || up.resumed.Load() != 1 {
			t.Errorf("upstream saw %d full and %d resumed handshakes, want 1 and 1", up.full.Load(), up.resumed.Load())
		}
	})
}
