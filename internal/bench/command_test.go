package bench

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// startGoServer starts a crypto/tls HTTPS server on 127.0.0.1 that answers
// every request with "ok"; tickets selects whether it issues session tickets.
func startGoServer(t *testing.T, tickets bool) *httptest.Server {
	t.Helper()
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		io.WriteString(w, "ok")
	}))
	srv.TLS = &tls.Config{SessionTicketsDisabled: !tickets}
	srv.Config.ErrorLog = log.New(io.Discard, "", 0) // clients that close right after the handshake are expected
	srv.StartTLS()
	t.Cleanup(srv.Close)
	return srv
}

// addrOf returns host:port of an httptest server.
func addrOf(srv *httptest.Server) string {
	return srv.Listener.Addr().String()
}

// runBench runs "bench" with args and returns its stdout and error.
func runBench(t *testing.T, args ...string) (string, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute) // generous: a busy machine
	defer cancel()
	var stdout, stderr bytes.Buffer
	cmd := NewCommand()
	cmd.SetArgs(args)
	cmd.SetOut(&stdout)
	cmd.SetErr(&stderr)
	err := cmd.ExecuteContext(ctx)
	return stdout.String(), err
}

// runJSON runs "bench --json" with args and decodes the report; the run
// must succeed, so its connections get a generous --timeout (the default
// 5 s is a benchmark's, not a loaded test machine's) unless args set one.
func runJSON(t *testing.T, args ...string) report {
	t.Helper()
	if !slices.Contains(args, "--timeout") {
		args = append(args, "--timeout", "30s")
	}
	out, err := runBench(t, append(args, "--json")...)
	if err != nil {
		t.Fatalf("bench %v: %v\n%s", args, err, out)
	}
	var rep report
	if err := json.Unmarshal([]byte(out), &rep); err != nil {
		t.Fatalf("bench --json output does not parse: %v\n%s", err, out)
	}
	return rep
}

func TestResumptionAgainstGoServer(t *testing.T) {
	tests := []struct {
		name        string
		tickets     bool
		args        []string
		wantResumed float64
		wantPrimed  int64
	}{
		{name: "resume TLS 1.2 with tickets", tickets: true, args: []string{"--mode", "resume", "--tls", "1.2"}, wantResumed: 100, wantPrimed: 2},
		{name: "resume TLS 1.3 with tickets", tickets: true, args: []string{"--mode", "resume", "--tls", "1.3"}, wantResumed: 100, wantPrimed: 2},
		{name: "resume TLS 1.3 with request", tickets: true, args: []string{"--mode", "resume", "--tls", "1.3", "--send-request"}, wantResumed: 100, wantPrimed: 2},
		{name: "resume TLS 1.2 after pause", tickets: true, args: []string{"--mode", "resume", "--tls", "1.2", "--pause", "200ms"}, wantResumed: 100, wantPrimed: 2},
		{name: "resume TLS 1.2 without tickets", tickets: false, args: []string{"--mode", "resume", "--tls", "1.2"}, wantResumed: 0, wantPrimed: 2},
		{name: "resume TLS 1.3 without tickets", tickets: false, args: []string{"--mode", "resume", "--tls", "1.3"}, wantResumed: 0, wantPrimed: 2},
		{name: "full TLS 1.2", tickets: true, args: []string{"--mode", "full", "--tls", "1.2"}, wantResumed: 0},
		{name: "full TLS 1.3 with request", tickets: true, args: []string{"--mode", "full", "--tls", "1.3", "--send-request"}, wantResumed: 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := startGoServer(t, tt.tickets)
			args := append([]string{"--addr", addrOf(srv), "--count", "60", "--concurrency", "2"}, tt.args...)
			rep := runJSON(t, args...)
			if rep.Handshakes != 60 || rep.ErrorsTotal != 0 {
				t.Fatalf("handshakes = %d, errors = %v; want 60 handshakes, no errors", rep.Handshakes, rep.Errors)
			}
			if rep.ResumedPercent != tt.wantResumed {
				t.Errorf("resumed_percent = %v, want %v", rep.ResumedPercent, tt.wantResumed)
			}
			if rep.Primed != tt.wantPrimed {
				t.Errorf("primed = %d, want %d", rep.Primed, tt.wantPrimed)
			}
		})
	}
}

// TestFirstModeAsksForSessions checks that --mode first makes full
// handshakes for which the server issues a session every time (a TLS 1.3
// ticket), where --mode full asks for none.
func TestFirstModeAsksForSessions(t *testing.T) {
	for _, tt := range []struct {
		mode        string
		wantTickets bool
	}{{"first", true}, {"full", false}} {
		t.Run(tt.mode, func(t *testing.T) {
			var issued, offered atomic.Int64
			srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {}))
			srv.TLS = &tls.Config{
				WrapSession: func(cs tls.ConnectionState, ss *tls.SessionState) ([]byte, error) {
					issued.Add(1)
					return ss.Bytes()
				},
				UnwrapSession: func(identity []byte, cs tls.ConnectionState) (*tls.SessionState, error) {
					offered.Add(1)
					return nil, nil // a first visit: any session offered is a defect, and is not resumed
				},
			}
			srv.Config.ErrorLog = log.New(io.Discard, "", 0)
			srv.StartTLS()
			t.Cleanup(srv.Close)
			rep := runJSON(t, "--addr", addrOf(srv), "--mode", tt.mode, "--tls", "1.3", "--count", "30", "--concurrency", "2")
			if rep.Handshakes != 30 || rep.Resumed != 0 || rep.ErrorsTotal != 0 {
				t.Fatalf("handshakes %d, resumed %d, errors %v; want 30 full handshakes", rep.Handshakes, rep.Resumed, rep.Errors)
			}
			if n := issued.Load(); tt.wantTickets != (n >= 30) || (!tt.wantTickets && n != 0) {
				t.Fatalf("server issued %d sessions for 30 handshakes, want tickets: %v", n, tt.wantTickets)
			}
			if n := offered.Load(); n != 0 {
				t.Fatalf("clients offered %d sessions, want none", n)
			}
		})
	}
}

func TestJSONReportFields(t *testing.T) {
	srv := startGoServer(t, true)
	out, err := runBench(t, "--addr", addrOf(srv), "--mode", "resume", "--count", "200", "--alpn", "http/1.1",
		"--server-pid", fmt.Sprint(os.Getpid()), "--json")
	if err != nil {
		t.Fatalf("bench: %v", err)
	}
	var fields map[string]any
	if err := json.Unmarshal([]byte(out), &fields); err != nil {
		t.Fatalf("output is not one JSON object: %v\n%s", err, out)
	}
	for _, key := range []string{"addr", "mode", "tls_version", "alpn", "concurrency", "elapsed_seconds", "handshakes",
		"handshakes_per_second", "resumed", "resumed_percent", "primed", "latency_us", "errors", "errors_total", "server_cpu"} {
		if _, ok := fields[key]; !ok {
			t.Errorf("JSON report has no %q field:\n%s", key, out)
		}
	}
	var rep report
	if err := json.Unmarshal([]byte(out), &rep); err != nil {
		t.Fatal(err)
	}
	lat := rep.LatencyUS
	if !(0 < lat.P50 && lat.P50 <= lat.P90 && lat.P90 <= lat.P99 && lat.P99 <= lat.Max) {
		t.Errorf("latency percentiles not ordered and positive: %+v", lat)
	}
	if rep.HandshakesPerSecond <= 0 {
		t.Errorf("handshakes_per_second = %v, want > 0", rep.HandshakesPerSecond)
	}
	for _, kind := range errorKinds {
		if _, ok := rep.Errors[kind]; !ok {
			t.Errorf("errors has no %q count: %v", kind, rep.Errors)
		}
	}
	// The "server" here is this test process, which also runs the client:
	// 200 handshakes cost it well over one 10 ms tick.
	if rep.ServerCPU == nil || rep.ServerCPU.Seconds <= 0 || rep.ServerCPU.PerHandshakeUS <= 0 {
		t.Errorf("server_cpu = %+v, want positive CPU figures", rep.ServerCPU)
	}
}

func TestTextReport(t *testing.T) {
	srv := startGoServer(t, true)
	out, err := runBench(t, "--addr", addrOf(srv), "--mode", "resume", "--tls", "1.2", "--count", "40")
	if err != nil {
		t.Fatalf("bench: %v", err)
	}
	for _, want := range []string{"handshakes  ", "40 (+4 priming, not counted)", "handshakes/s", "latency p50", "latency p90",
		"latency p99", "latency max", "resumed  ", "100.0% (40 of 40)", "errors  "} {
		if !strings.Contains(out, want) {
			t.Errorf("text report lacks %q:\n%s", want, out)
		}
	}
}

func TestVerifyWithCA(t *testing.T) {
	srv := startGoServer(t, true)
	caFile := filepath.Join(t.TempDir(), "ca.pem")
	pemBytes := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw})
	if err := os.WriteFile(caFile, pemBytes, 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name       string
		sni        string
		wantErrors int64
	}{
		{name: "name in certificate", sni: "example.com", wantErrors: 0},
		{name: "name not in certificate", sni: "other.test", wantErrors: 4},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out, err := runBench(t, "--addr", addrOf(srv), "--ca", caFile, "--sni", tt.sni, "--count", "4", "--json")
			var rep report
			if jerr := json.Unmarshal([]byte(out), &rep); jerr != nil {
				t.Fatalf("output does not parse: %v (run error %v)\n%s", jerr, err, out)
			}
			if rep.Errors[errHandshake] != tt.wantErrors {
				t.Errorf("handshake errors = %d, want %d (%v)", rep.Errors[errHandshake], tt.wantErrors, err)
			}
		})
	}
}

func TestErrorsByKind(t *testing.T) {
	// A port that was just free: connecting to it is refused.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closedAddr := ln.Addr().String()
	ln.Close()

	// A plain TCP server that closes every connection at once: the TLS
	// handshake fails.
	plain, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { plain.Close() })
	go func() {
		for range 1000 {
			c, err := plain.Accept()
			if err != nil {
				return
			}
			c.Close()
		}
	}()

	// A TCP server that accepts and never answers: the handshake times out.
	silent, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { silent.Close() })

	tests := []struct {
		name string
		addr string
		args []string
		kind string
	}{
		{name: "connection refused", addr: closedAddr, kind: errDial},
		{name: "not a TLS server", addr: plain.Addr().String(), kind: errHandshake},
		{name: "server never answers", addr: silent.Addr().String(), args: []string{"--timeout", "100ms"}, kind: errTimeout},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			args := append([]string{"--addr", tt.addr, "--count", "3", "--concurrency", "1", "--json"}, tt.args...)
			out, err := runBench(t, args...)
			if err == nil || !strings.Contains(err.Error(), "no handshake succeeded") {
				t.Errorf("error = %v, want one saying no handshake succeeded", err)
			}
			var rep report
			if jerr := json.Unmarshal([]byte(out), &rep); jerr != nil {
				t.Fatalf("output does not parse: %v\n%s", jerr, out)
			}
			if rep.Errors[tt.kind] != 3 || rep.ErrorsTotal != 3 {
				t.Errorf("errors = %v, want 3 of kind %q", rep.Errors, tt.kind)
			}
			if rep.FirstErrors[tt.kind] == "" || len(rep.FirstErrors) != 1 {
				t.Errorf("first errors = %q, want the first %s error and no other", rep.FirstErrors, tt.kind)
			}
		})
	}
	t.Run("the first error says why", func(t *testing.T) {
		out, _ := runBench(t, "--addr", closedAddr, "--count", "1", "--concurrency", "1")
		if !strings.Contains(out, "first dial error") || !strings.Contains(out, "connection refused") {
			t.Errorf("the report does not say why the dial failed:\n%s", out)
		}
	})
}

// TestClosedPortIsNotHammered: against a port that refuses connections,
// each worker backs off (doubling to a second) instead of redialling in a
// tight loop: a second of 4 workers makes a few dozen dials, not tens of
// thousands.
func TestClosedPortIsNotHammered(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closedAddr := ln.Addr().String()
	ln.Close()
	out, _ := runBench(t, "--addr", closedAddr, "--duration", "1s", "--concurrency", "4", "--json")
	var rep report
	if err := json.Unmarshal([]byte(out), &rep); err != nil {
		t.Fatalf("output does not parse: %v\n%s", err, out)
	}
	if n := rep.Errors[errDial]; n == 0 || n > 200 {
		t.Errorf("%d dials to a closed port in 1s by 4 workers, want a few dozen", n)
	}
}

func TestBadFlags(t *testing.T) {
	tests := []struct {
		name    string
		args    []string
		wantErr string
	}{
		{name: "no addr", args: nil, wantErr: "--addr is required"},
		{name: "addr without port", args: []string{"--addr", "localhost"}, wantErr: `--addr "localhost": want host:port`},
		{name: "unknown mode", args: []string{"--addr", "h:1", "--mode", "fast"}, wantErr: `--mode "fast": want full, first or resume`},
		{name: "unknown TLS version", args: []string{"--addr", "h:1", "--tls", "1.1"}, wantErr: `--tls "1.1": want 1.2 or 1.3`},
		{name: "no workers", args: []string{"--addr", "h:1", "--concurrency", "0"}, wantErr: "--concurrency 0: want 1..1024"},
		{name: "too many workers", args: []string{"--addr", "h:1", "--concurrency", "5000"}, wantErr: "--concurrency 5000"},
		{name: "zero duration", args: []string{"--addr", "h:1", "--duration", "0s"}, wantErr: "--duration 0s"},
		{name: "duration over the cap", args: []string{"--addr", "h:1", "--duration", "2h"}, wantErr: "at most 1h0m0s"},
		{name: "negative count", args: []string{"--addr", "h:1", "--count", "-1"}, wantErr: "--count -1"},
		{name: "count over the cap", args: []string{"--addr", "h:1", "--count", "1000000000"}, wantErr: "--count 1000000000"},
		{name: "pause in full mode", args: []string{"--addr", "h:1", "--pause", "1s"}, wantErr: "--pause applies only to --mode resume"},
		{name: "zero timeout", args: []string{"--addr", "h:1", "--timeout", "0s"}, wantErr: "--timeout 0s"},
		{name: "missing CA file", args: []string{"--addr", "h:1", "--ca", "/nonexistent/ca.pem"}, wantErr: "--ca: open /nonexistent/ca.pem"},
		{name: "CA with insecure", args: []string{"--addr", "h:1", "--ca", "x.pem", "--insecure=true"}, wantErr: "--ca and --insecure=true conflict"},
		{name: "server pid that does not exist", args: []string{"--addr", "h:1", "--server-pid", "999999999"}, wantErr: "--server-pid 999999999"},
		{name: "request over h2", args: []string{"--addr", "h:1", "--send-request", "--alpn", "h2,http/1.1"}, wantErr: "--send-request speaks HTTP/1.1"},
		{name: "not a number", args: []string{"--addr", "h:1", "--count", "many"}, wantErr: `invalid argument "many"`},
		{name: "positional argument", args: []string{"--addr", "h:1", "extra"}, wantErr: `unknown command "extra"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := runBench(t, tt.args...)
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("error = %v, want one containing %q", err, tt.wantErr)
			}
		})
	}
}

func TestInterruptPrintsPartialReport(t *testing.T) {
	srv := startGoServer(t, true)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var stdout bytes.Buffer
	cmd := NewCommand()
	cmd.SetArgs([]string{"--addr", addrOf(srv), "--duration", "1m", "--concurrency", "1", "--json"})
	cmd.SetOut(&stdout)
	cmd.SetErr(io.Discard)
	time.AfterFunc(300*time.Millisecond, cancel)
	start := time.Now()
	err := cmd.ExecuteContext(ctx)
	if err == nil || !strings.Contains(err.Error(), "bench: interrupted") {
		t.Errorf("error = %v, want bench: interrupted", err)
	}
	if waited := time.Since(start); waited > 5*time.Second {
		t.Errorf("run took %s after the interrupt, want a prompt stop", waited)
	}
	var rep report
	if err := json.Unmarshal(stdout.Bytes(), &rep); err != nil {
		t.Fatalf("partial report does not parse: %v\n%s", err, stdout.String())
	}
	if rep.Handshakes == 0 || rep.ErrorsTotal != 0 {
		t.Errorf("partial report: %d handshakes, errors %v; want some handshakes and no errors", rep.Handshakes, rep.Errors)
	}
}

// With several --addr, every worker goes to each server in turn: servers
// that share their ticket keys (a fleet) resume each other's sessions,
// servers that do not, never.
func TestSeveralAddresses(t *testing.T) {
	start := func(key [32]byte) *httptest.Server {
		srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
			io.WriteString(w, "ok")
		}))
		srv.TLS = &tls.Config{}
		srv.TLS.SetSessionTicketKeys([][32]byte{key})
		srv.Config.ErrorLog = log.New(io.Discard, "", 0)
		srv.StartTLS()
		t.Cleanup(srv.Close)
		return srv
	}
	shared := [32]byte{1}
	a, b, other := start(shared), start(shared), start([32]byte{2})
	tests := []struct {
		name        string
		addrs       string
		wantResumed float64
	}{
		{name: "a fleet sharing ticket keys", addrs: addrOf(a) + "," + addrOf(b), wantResumed: 100},
		{name: "servers with their own keys", addrs: addrOf(a) + "," + addrOf(other), wantResumed: 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rep := runJSON(t, "--addr", tt.addrs, "--mode", "resume", "--tls", "1.2", "--count", "40", "--concurrency", "2")
			if rep.Handshakes != 40 || rep.ErrorsTotal != 0 {
				t.Fatalf("handshakes = %d, errors = %v", rep.Handshakes, rep.Errors)
			}
			if rep.ResumedPercent != tt.wantResumed {
				t.Errorf("resumed_percent = %v, want %v", rep.ResumedPercent, tt.wantResumed)
			}
		})
	}
	if _, err := runBench(t, "--addr", addrOf(a)+",nope", "--count", "1"); err == nil || !strings.Contains(err.Error(), `--addr "nope"`) {
		t.Errorf("a bad address in the list: %v, want it named", err)
	}
}
