package gateway

import (
	"crypto/tls"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"
)

// freezer is a TCP proxy to a NATS server that can stop forwarding while
// keeping every connection open: a hung server (SIGSTOP) as its clients
// see it.
type freezer struct {
	ln     net.Listener
	target string
	mu     sync.Mutex
	cond   *sync.Cond
	frozen bool
	conns  []net.Conn
}

func startFreezer(t *testing.T, target string) *freezer {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	f := &freezer{ln: ln, target: target}
	f.cond = sync.NewCond(&f.mu)
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			u, err := net.Dial("tcp", target)
			if err != nil {
				c.Close()
				continue
			}
			f.mu.Lock()
			f.conns = append(f.conns, c, u)
			f.mu.Unlock()
			go f.pipe(u, c)
			go f.pipe(c, u)
		}
	}()
	t.Cleanup(func() {
		f.set(false)
		ln.Close()
		f.mu.Lock()
		for _, c := range f.conns {
			c.Close()
		}
		f.mu.Unlock()
	})
	return f
}

func (f *freezer) addr() string { return f.ln.Addr().String() }

func (f *freezer) set(frozen bool) {
	f.mu.Lock()
	f.frozen = frozen
	f.mu.Unlock()
	f.cond.Broadcast()
}

func (f *freezer) pipe(dst, src net.Conn) {
	defer dst.Close()
	buf := make([]byte, 32<<10)
	for {
		n, err := src.Read(buf)
		f.mu.Lock()
		for f.frozen {
			f.cond.Wait()
		}
		f.mu.Unlock()
		if n > 0 {
			if _, werr := dst.Write(buf[:n]); werr != nil {
				return
			}
		}
		if err != nil {
			return
		}
	}
}

func readyz(t *testing.T, g *Gateway) string {
	t.Helper()
	resp, err := http.Get("http://" + g.AdminAddr().String() + "/readyz")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return string(b)
}

// A NATS that stops answering with its connections still open is noticed:
// after a few timed-out operations the key-value breaker opens, handshakes
// skip the fetch at once (no fetch deadline waited), /readyz and a metric
// say so; once NATS answers again, sessions resume again.
func TestHungNATSIsNoticedAndSkipped(t *testing.T) {
	natsAddr, dir := freePort(t), t.TempDir()
	srv := startNATS(t, natsAddr, dir)
	defer srv.Close(t.Context())
	f := startFreezer(t, natsAddr)
	cfg := testConfig(t, cacheTenant("a", "a.test"))
	joinNATS(cfg, f.addr(), dir)
	g := startGateway(t, cfg)
	eventuallyResumes(t, g, "a.test")

	f.set(true)
	// Each offered session now waits out its fetch deadline, until the
	// breaker opens; bounded by count, not by time.
	opened := false
	for i := 0; i < 100 && !opened; i++ {
		o := clientOpts{sni: "a.test", version: tls.VersionTLS13, cache: tls.NewLRUClientSessionCache(1)}
		dial(t, g.addr(), o)
		if v := dial(t, g.addr(), o); !contains(v.body, "200 OK") && !contains(v.body, "tenant:") {
			t.Fatalf("a connection while NATS hangs was not served: %q", v.body)
		}
		opened = !g.kv.Available()
	}
	if !opened {
		t.Fatal("100 resumption attempts against a hung NATS did not open the breaker")
	}
	if r := readyz(t, g); !strings.Contains(r, "not answering") && !strings.Contains(r, "disconnected") {
		t.Errorf("/readyz while NATS hangs says:\n%s", r)
	}
	if n := counterValueFor(t, g, "tlsgate_kv_breaker_trips_total", nil); n < 1 && g.kv.Connected() {
		t.Errorf("tlsgate_kv_breaker_trips_total = %v", n)
	}
	fetches := histogramCount(t, g, "tlsgate_session_fetch_duration_seconds")
	for range 10 {
		o := clientOpts{sni: "a.test", version: tls.VersionTLS12, cache: tls.NewLRUClientSessionCache(1)}
		dial(t, g.addr(), o)
		if v := dial(t, g.addr(), o); v.state.DidResume {
			t.Fatal("resumed while NATS hangs")
		}
	}
	if got := histogramCount(t, g, "tlsgate_session_fetch_duration_seconds"); got != fetches {
		t.Errorf("%d fetches ran while the breaker was open, want none", got-fetches)
	}
	if n := counterValue(t, g, "tlsgate_resumption_attempts_total", "result", "kv_down"); n < 10 {
		t.Errorf("resumption attempts with result kv_down = %v, want at least 10", n)
	}

	f.set(false)
	deadline := time.Now().Add(60 * time.Second)
	for {
		o := clientOpts{sni: "a.test", version: tls.VersionTLS13, cache: tls.NewLRUClientSessionCache(1)}
		dial(t, g.addr(), o)
		g.waitStores(t)
		if dial(t, g.addr(), o).state.DidResume {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no resumption within 60s of NATS answering again; /readyz:\n%s", readyz(t, g))
		}
		time.Sleep(100 * time.Millisecond)
	}
}
