package gateway

import (
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
)

// counterValue sums a counter's series whose label name has value.
func counterValue(t *testing.T, g *Gateway, metric, name, value string) float64 {
	t.Helper()
	return counterValueFor(t, g, metric, map[string]string{name: value})
}

// counterValueFor sums a counter's series that carry every label given.
func counterValueFor(t *testing.T, g *Gateway, metric string, labels map[string]string) float64 {
	t.Helper()
	return sumMetric(t, g, metric, func(m *dto.Metric) float64 {
		for k, v := range labels {
			if !hasLabel(m, k, v) {
				return 0
			}
		}
		return m.GetCounter().GetValue()
	})
}

// sumMetric sums value over the series of metric.
func sumMetric(t *testing.T, g *Gateway, metric string, value func(*dto.Metric) float64) float64 {
	t.Helper()
	mfs, err := g.metrics.reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	var sum float64
	for _, mf := range mfs {
		if mf.GetName() == metric {
			for _, m := range mf.GetMetric() {
				sum += value(m)
			}
		}
	}
	return sum
}

// waitNearCacheEmpty waits until g's near cache holds nothing: changes
// another client made to the entries it held (purges, overwrites) reach it
// through its watch of the bucket a moment later, and a test that dials
// at once would be served what it held.
func waitNearCacheEmpty(t *testing.T, g *Gateway) {
	t.Helper()
	eventually(t, "the changes to reach the near cache", func() error {
		if n := gaugeValue(t, g, "tlsgate_kv_near_cache_bytes"); n != 0 {
			return fmt.Errorf("the near cache holds %v bytes", n)
		}
		return nil
	})
}

// gaugeValue sums a gauge's series.
func gaugeValue(t *testing.T, g *Gateway, metric string) float64 {
	t.Helper()
	return sumMetric(t, g, metric, func(m *dto.Metric) float64 { return m.GetGauge().GetValue() })
}

func hasLabel(m *dto.Metric, name, value string) bool {
	for _, l := range m.GetLabel() {
		if l.GetName() == name && l.GetValue() == value {
			return true
		}
	}
	return false
}

func TestMetricsCountHitAndMiss(t *testing.T) {
	g := exposedNATS(t, "a")
	kv := kvOf(t, g, "a")
	o := clientOpts{sni: "a.test", version: tls.VersionTLS13, cache: tls.NewLRUClientSessionCache(1)}
	dial(t, g.addr(), o)
	g.waitStores(t)
	if !dial(t, g.addr(), o).state.DidResume {
		t.Fatal("did not resume")
	}
	if n := counterValue(t, g, "tlsgate_resumption_attempts_total", "result", "hit"); n != 1 {
		t.Errorf("hits = %v, want 1", n)
	}
	if n := counterValue(t, g, "tlsgate_handshakes_total", "outcome", "resumed"); n != 1 {
		t.Errorf("resumed handshakes = %v, want 1", n)
	}
	g.waitStores(t)
	// The store forgets every session: the client's next offer is a miss.
	for k := range allEntries(t, kv) {
		if err := kv.Purge(context.Background(), k); err != nil {
			t.Fatal(err)
		}
	}
	waitNearCacheEmpty(t, g)
	if dial(t, g.addr(), o).state.DidResume {
		t.Fatal("resumed a purged session")
	}
	if n := counterValue(t, g, "tlsgate_resumption_attempts_total", "result", "miss"); n != 1 {
		t.Errorf("misses = %v, want 1", n)
	}
	// A TLS 1.3 resumption stores nothing: the second store is this full
	// handshake's, which runs after the connection, in the background.
	g.waitStores(t)
	n := counterValue(t, g, "tlsgate_session_stores_total", "result", "ok")
	if n < 2 {
		t.Errorf("stores ok = %v, want at least 2", n)
	}
	// A sealed TLS 1.3 session: the state, its binding, nonce and tag.
	if per := counterValue(t, g, "tlsgate_session_stored_bytes_total", "tenant", "a") / n; per < 100 || per > 4096 {
		t.Errorf("stored bytes per session = %v, want a sealed session's size", per)
	}
}

func TestAdminEndpoints(t *testing.T) {
	cfg := testConfig(t, cacheTenant("a", "a.test"))
	g := startGateway(t, cfg)
	// With a session cache the client offers PSK modes, so it gets a ticket
	// and the store path runs.
	dial(t, g.addr(), clientOpts{sni: "a.test", version: tls.VersionTLS13, cache: tls.NewLRUClientSessionCache(1)})
	g.waitStores(t)
	admin := "http://" + g.AdminAddr().String()
	tests := []struct {
		path     string
		wantCode int
		want     []string
	}{
		{"/healthz", 200, []string{"ok"}},
		{"/readyz", 200, []string{"ready", "nats: connected"}},
		{"/metrics", 200, []string{
			`tlsgate_guest_shared_idle_instances{module="builtin:sessioncache"} 1`,
			"tlsgate_nats_connected 1",
			`tlsgate_handshakes_total{outcome="full",tenant="a",version="1.3"} 1`,
			"tlsgate_session_store_duration_seconds_bucket",
			"go_goroutines",
		}},
		{"/debug/pprof/", 404, nil}, // off unless admin.pprof
	}
	for _, tt := range tests {
		t.Run(tt.path, func(t *testing.T) {
			resp, err := http.Get(admin + tt.path)
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != tt.wantCode {
				t.Fatalf("status %d, want %d", resp.StatusCode, tt.wantCode)
			}
			for _, w := range tt.want {
				if !strings.Contains(string(body), w) {
					t.Errorf("body lacks %q", w)
				}
			}
		})
	}
	if host, _, _ := net.SplitHostPort(g.AdminAddr().String()); host != "127.0.0.1" {
		t.Errorf("admin bound to %s", host)
	}
}

func TestPprofBehindSwitch(t *testing.T) {
	cfg := testConfig(t, cacheTenant("a", "a.test"))
	cfg.Admin.Pprof = true
	g := startGateway(t, cfg)
	resp, err := http.Get("http://" + g.AdminAddr().String() + "/debug/pprof/cmdline")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("pprof with admin.pprof: status %d", resp.StatusCode)
	}
}

// histogramCount sums the sample counts of a histogram's series.
func histogramCount(t *testing.T, g *Gateway, metric string) uint64 {
	t.Helper()
	return uint64(sumMetric(t, g, metric, func(m *dto.Metric) float64 { return float64(m.GetHistogram().GetSampleCount()) }))
}

// A session this gateway stored is fetched from its near cache: no NATS
// round trip, and counted as a hit.
func TestNearCacheServesOwnSessions(t *testing.T) {
	g := startGateway(t, testConfig(t, cacheTenant("a", "a.test")))
	for _, v := range []uint16{tls.VersionTLS13, tls.VersionTLS12} {
		before := counterValue(t, g, "tlsgate_kv_near_cache_total", "result", "hit")
		if _, second := resumeOnce(t, g, g.addr(), clientOpts{sni: "a.test", version: v}); !second.state.DidResume {
			t.Fatalf("%s: did not resume", tls.VersionName(v))
		}
		if after := counterValue(t, g, "tlsgate_kv_near_cache_total", "result", "hit"); after != before+1 {
			t.Errorf("%s: near cache hits went %v -> %v, want +1", tls.VersionName(v), before, after)
		}
	}
}

// TestOperatorMetrics: what an operator's dashboard needs is there from
// the first scrape (build info, each tenant's handshake counters, every
// reason of failed handshakes, reloads refused), failed handshakes are
// counted by reason and with the version the client offered, handshakes
// and HTTP responses are measured, and a tenant that goes takes its
// series with it.
func TestOperatorMetrics(t *testing.T) {
	cfg := testConfig(t, cacheTenant("a", "a.test"), cacheTenant("b", "b.test"))
	cfg.HandshakeTimeout = time.Second
	g := startGateway(t, cfg)
	series := func(metric string, labels map[string]string) bool {
		mfs, err := g.metrics.reg.Gather()
		if err != nil {
			t.Fatal(err)
		}
		for _, mf := range mfs {
			if mf.GetName() != metric {
				continue
			}
		next:
			for _, m := range mf.GetMetric() {
				for k, v := range labels {
					if !hasLabel(m, k, v) {
						continue next
					}
				}
				return true
			}
		}
		return false
	}
	for _, want := range []struct {
		metric string
		labels map[string]string
	}{
		{"tlsgate_build_info", map[string]string{"version": "dev"}},
		{"tlsgate_handshakes_total", map[string]string{"tenant": "b", "version": "1.2", "outcome": "resumed"}},
		{"tlsgate_handshake_failures_total", map[string]string{"listener": g.addr(), "reason": "timeout"}},
		{"tlsgate_config_reloads_total", map[string]string{"result": "refused"}},
	} {
		if !series(want.metric, want.labels) {
			t.Errorf("%s%v is not reported before any event", want.metric, want.labels)
		}
	}

	// A client that refuses the self-signed certificate sends an alert.
	c, err := tls.Dial("tcp", g.addr(), &tls.Config{ServerName: "a.test", MinVersion: tls.VersionTLS13})
	if err == nil {
		c.Close()
		t.Fatal("a verifying client accepted a self-signed certificate")
	}
	// A client that says nothing runs into handshake_timeout.
	raw, err := net.Dial("tcp", g.addr())
	if err != nil {
		t.Fatal(err)
	}
	raw.Read(make([]byte, 1)) // returns when the gateway gives up
	raw.Close()
	for reason, want := range map[string]float64{"client_alert": 1, "timeout": 1} {
		eventually(t, "failure reason "+reason, func() error {
			if got := counterValueFor(t, g, "tlsgate_handshake_failures_total", map[string]string{"reason": reason}); got != want {
				return fmt.Errorf("tlsgate_handshake_failures_total{reason=%q} = %v, want %v", reason, got, want)
			}
			return nil
		})
	}
	if got := counterValueFor(t, g, "tlsgate_handshakes_total", map[string]string{"tenant": "a", "version": "1.3", "outcome": "failed"}); got != 1 {
		t.Errorf("the failed TLS 1.3 handshake of tenant a: %v, want 1 with version 1.3", got)
	}

	// HTTP responses by code; handshakes measured.
	client := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true, ServerName: "a.test"}}}
	for _, path := range []string{"/", "/", "/missing"} {
		resp, err := client.Get("https://" + g.addr() + path)
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
	}
	client.CloseIdleConnections()
	for code, want := range map[string]float64{"200": 2, "404": 1} {
		if got := counterValueFor(t, g, "tlsgate_http_responses_total", map[string]string{"tenant": "a", "code": code}); got != want {
			t.Errorf("tlsgate_http_responses_total{tenant=a,code=%s} = %v, want %v", code, got, want)
		}
	}
	if n := histogramCount(t, g, "tlsgate_handshake_duration_seconds"); n < 3 {
		t.Errorf("tlsgate_handshake_duration_seconds counted %d handshakes, want at least 3", n)
	}

	// Tenant a goes: its series go with it; b's stay.
	cfg2 := *cfg
	cfg2.Tenants = cfg.Tenants[1:]
	if err := g.Reload(context.Background(), &cfg2); err != nil {
		t.Fatal(err)
	}
	if series("tlsgate_handshakes_total", map[string]string{"tenant": "a"}) || series("tlsgate_http_responses_total", map[string]string{"tenant": "a"}) {
		t.Error("the removed tenant's series are still reported")
	}
	if !series("tlsgate_handshakes_total", map[string]string{"tenant": "b"}) {
		t.Error("the remaining tenant's series went too")
	}
}
