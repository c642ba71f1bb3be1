package gateway

import (
	"bufio"
	"context"
	"crypto/tls"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os/exec"
	"strings"
	"testing"
	"time"
)

func TestCurlHTTP2BuiltinPage(t *testing.T) {
	curl, err := exec.LookPath("curl")
	if err != nil {
		t.Fatal("curl is needed for this test: apt-get install curl")
	}
	g := startGateway(t, testConfig(t, cacheTenant("default", "localhost")))
	_, port, _ := net.SplitHostPort(g.addr())
	out, err := exec.Command(curl, "-sS", "-k", "--http2", "--max-time", "10",
		"--resolve", "localhost:"+port+":127.0.0.1", "https://localhost:"+port+"/").CombinedOutput()
	if err != nil {
		t.Fatalf("curl: %v\n%s", err, out)
	}
	for _, want := range []string{"http protocol:   HTTP/2.0", "alpn:            h2", "tenant:          default"} {
		if !strings.Contains(string(out), want) {
			t.Errorf("page lacks %q:\n%s", want, out)
		}
	}
}

func TestHTTPUpstreamGetsForwardedHeaders(t *testing.T) {
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		json.NewEncoder(w).Encode(map[string]string{
			"for": r.Header.Get("X-Forwarded-For"), "proto": r.Header.Get("X-Forwarded-Proto"),
			"host": r.Header.Get("X-Forwarded-Host"), "path": r.URL.Path,
		})
	}))
	defer up.Close()
	tn := cacheTenant("web", "web.test")
	tn.Upstream = up.URL
	g := startGateway(t, testConfig(t, tn))
	for _, h2 := range []bool{false, true} {
		tr := &http.Transport{
			TLSClientConfig:   &tls.Config{InsecureSkipVerify: true, ServerName: "web.test"},
			ForceAttemptHTTP2: h2,
			DialContext: func(ctx context.Context, network, _ string) (net.Conn, error) {
				return (&net.Dialer{}).DialContext(ctx, network, g.addr())
			},
		}
		c := &http.Client{Transport: tr, Timeout: 30 * time.Second}
		resp, err := c.Get("https://web.test/some/path")
		if err != nil {
			t.Fatal(err)
		}
		var got map[string]string
		json.NewDecoder(resp.Body).Decode(&got)
		resp.Body.Close()
		if wantProto := map[bool]int{false: 1, true: 2}[h2]; resp.ProtoMajor != wantProto {
			t.Errorf("client spoke HTTP/%d, want %d", resp.ProtoMajor, wantProto)
		}
		if got["for"] != "127.0.0.1" || got["proto"] != "https" || got["host"] != "web.test" || got["path"] != "/some/path" {
			t.Errorf("upstream saw %v", got)
		}
		tr.CloseIdleConnections()
	}
}

func TestUnreachableUpstreamIs502(t *testing.T) {
	tn := cacheTenant("web", "web.test")
	tn.Upstream = "http://" + freePort(t) // nothing listens there
	g := startGateway(t, testConfig(t, tn))
	v := dial(t, g.addr(), clientOpts{sni: "web.test", version: tls.VersionTLS13})
	if !strings.HasPrefix(v.body, "HTTP/1.1 502") || !strings.Contains(v.body, "upstream unavailable") {
		t.Fatalf("want a short 502, got:\n%s", v.body)
	}
}

func TestMisdirectedHostIs421(t *testing.T) {
	g := startGateway(t, testConfig(t, cacheTenant("a", "a.test"), cacheTenant("b", "b.test")))
	c, err := tls.Dial("tcp", g.addr(), &tls.Config{ServerName: "a.test", InsecureSkipVerify: true})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	io.WriteString(c, "GET / HTTP/1.1\r\nHost: b.test\r\nConnection: close\r\n\r\n")
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusMisdirectedRequest {
		t.Fatalf("request for b.test on a connection for a.test: status %d, want 421", resp.StatusCode)
	}
}

func TestTCPTenantEchoesWithHalfClose(t *testing.T) {
	echo, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer echo.Close()
	go func() {
		for {
			c, err := echo.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				io.Copy(c, c) // until the client's half-close reaches us
			}()
		}
	}()
	tn := cacheTenant("raw", "raw.test")
	tn.Upstream = "tcp://" + echo.Addr().String()
	tn.ALPN = []string{"echo/1"}
	g := startGateway(t, testConfig(t, tn))
	cache := tls.NewLRUClientSessionCache(1)
	for i := range 2 {
		c, err := tls.Dial("tcp", g.addr(), &tls.Config{ServerName: "raw.test", InsecureSkipVerify: true,
			NextProtos: []string{"echo/1"}, ClientSessionCache: cache})
		if err != nil {
			t.Fatal(err)
		}
		c.SetDeadline(time.Now().Add(30 * time.Second))
		msg := strings.Repeat("tlsgate echo ", 1000)
		if _, err := io.WriteString(c, msg); err != nil {
			t.Fatal(err)
		}
		if err := c.CloseWrite(); err != nil {
			t.Fatal(err)
		}
		got, err := io.ReadAll(c)
		if err != nil {
			t.Fatalf("read: %v", err)
		}
		if string(got) != msg {
			t.Fatalf("echo returned %d bytes, want %d", len(got), len(msg))
		}
		st := c.ConnectionState()
		c.Close()
		if st.NegotiatedProtocol != "echo/1" {
			t.Errorf("ALPN %q, want echo/1", st.NegotiatedProtocol)
		}
		if i == 1 && !st.DidResume {
			t.Error("second TCP connection did not resume")
		}
		g.waitStores(t)
	}
}
