package gateway

import (
	"crypto/tls"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// An attacker holding request bodies open (HTTP/2 POSTs whose body never
// comes, from 127.0.0.2) gets its share of connections and requests in
// flight and no more: the upstream sees at most that many of its requests,
// the stalled bodies are cut at limits.request_read_timeout, and a
// legitimate client (127.0.0.1) is served all along.
func TestStalledBodiesCannotStarveOtherClients(t *testing.T) {
	var upOpen, upMax atomic.Int64
	up := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		io.WriteString(w, "upstream ok\n")
	}))
	up.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		switch s {
		case http.StateNew:
			n := upOpen.Add(1)
			for m := upMax.Load(); n > m && !upMax.CompareAndSwap(m, n); m = upMax.Load() {
			}
		case http.StateClosed, http.StateHijacked:
			upOpen.Add(-1)
		}
	}
	up.Start()
	defer up.Close()

	tn := cacheTenant("a", "a.test")
	tn.Guest, tn.Upstream = nil, up.URL
	cfg := testConfig(t, tn)
	cfg.Limits.MaxConnectionsPerClient = 8
	cfg.Limits.MaxRequestsPerClient = 16
	cfg.Limits.MaxStreamsPerConnection = 10
	cfg.Limits.RequestReadTimeout = 3 * time.Second
	cfg.Limits.RequestHeaderTimeout = 3 * time.Second
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	g := startGateway(t, cfg)
	url := "https://" + g.addr() + "/"

	attacker := &http.Client{Timeout: time.Minute, Transport: &http.Transport{
		DialContext:       (&net.Dialer{LocalAddr: &net.TCPAddr{IP: net.IPv4(127, 0, 0, 2)}}).DialContext,
		TLSClientConfig:   &tls.Config{InsecureSkipVerify: true, ServerName: "a.test"},
		ForceAttemptHTTP2: true,
	}}
	defer attacker.CloseIdleConnections()
	// One request first, so the attacker holds an HTTP/2 connection and
	// multiplexes onto it (and onto the ones it dials when it is full).
	if resp, err := attacker.Get(url); err != nil {
		t.Fatal(err)
	} else {
		resp.Body.Close()
	}
	const stalled = 200
	var wg sync.WaitGroup
	var held []*io.PipeWriter
	ended := make(chan time.Duration, stalled)
	start := time.Now()
	for range stalled {
		pr, pw := io.Pipe()
		held = append(held, pw)
		wg.Add(1)
		go func() {
			defer wg.Done()
			resp, err := attacker.Post(url, "application/octet-stream", pr)
			if err == nil {
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
			}
			ended <- time.Since(start)
		}()
	}
	defer func() {
		for _, pw := range held {
			pw.Close()
		}
		wg.Wait()
	}()

	// Let the attack take hold, then measure a legitimate client, one new
	// connection (a full handshake) per request.
	deadline := time.Now().Add(30 * time.Second)
	for counterValue(t, g, "tlsgate_requests_refused_total", "reason", "client_full") == 0 {
		if time.Now().After(deadline) {
			t.Fatalf("the attacker's requests were never refused: no per-client limit (conns refused %v, open %v, upstream %d)",
				counterValue(t, g, "tlsgate_connections_refused_total", "reason", "client_full"), len(ended), upOpen.Load())
		}
		time.Sleep(10 * time.Millisecond)
	}
	var lat []time.Duration
	for i := range 50 {
		c := &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{
			TLSClientConfig: &tls.Config{InsecureSkipVerify: true, ServerName: "a.test"}, ForceAttemptHTTP2: true}}
		t0 := time.Now()
		resp, err := c.Get(url)
		if err != nil {
			t.Fatalf("legitimate request %d during the attack: %v", i, err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		lat = append(lat, time.Since(t0))
		if resp.StatusCode != 200 || string(body) != "upstream ok\n" {
			t.Fatalf("legitimate request %d during the attack: %s %q", i, resp.Status, body)
		}
		c.CloseIdleConnections()
	}
	slices.Sort(lat)
	t.Logf("legitimate client during the attack: p50 %v, p99 %v, max %v (50 requests, new connection each)",
		lat[len(lat)/2], lat[len(lat)*99/100], lat[len(lat)-1])

	if m := upMax.Load(); m > int64(cfg.Limits.MaxRequestsPerClient)+4 {
		t.Errorf("the upstream saw %d connections at once: the attacker's %d stalled bodies were not bounded by max_requests_per_client %d",
			m, stalled, cfg.Limits.MaxRequestsPerClient)
	}
	// Every stalled request ends, cut by the gateway long before the
	// attacker's own one-minute timeout.
	for range stalled {
		if d := <-ended; d > 45*time.Second {
			t.Fatalf("a stalled request lasted %v: request_read_timeout (%v) did not cut it", d, cfg.Limits.RequestReadTimeout)
		}
	}
}
