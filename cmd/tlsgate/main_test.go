package main

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// The tests run the real binary, built two ways: plain (stock crypto/tls:
// tickets and TLS 1.3 PSK) and patched (Session-ID resumption, the default
// `make build`).
var (
	binPlain   string
	binPatched string
	wasmCache  string
)

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "tlsgate-cli-test-")
	if err != nil {
		panic(err)
	}
	code := 1
	defer func() {
		os.RemoveAll(dir)
		os.Exit(code)
	}()
	wasmCache = filepath.Join(dir, "wasm-cache")
	binPlain = filepath.Join(dir, "tlsgate-plain")
	binPatched = filepath.Join(dir, "tlsgate-patched")
	overlay := filepath.Join(dir, "overlay")
	steps := [][]string{
		{"go", "build", "-o", binPlain, "."},
		{"go", "run", "github.com/tlsgate/tlsgate/internal/cmd/tlsoverlay", "-out", overlay, "-patch", "../../patches/crypto-tls-sessionid.patch"},
		{"go", "build", "-overlay", filepath.Join(overlay, "overlay.json"), "-tags", "tlsgate_sessionid", "-o", binPatched, "."},
	}
	for _, s := range steps {
		cmd := exec.Command(s[0], s[1:]...)
		if out, err := cmd.CombinedOutput(); err != nil {
			fmt.Fprintf(os.Stderr, "%s: %v\n%s", strings.Join(s, " "), err, out)
			return
		}
	}
	code = m.Run()
}

func freeAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

const testSealingKey = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8="

// gw is one running `tlsgate serve`.
type gw struct {
	addr, admin, nats string
	dataDir           string
	cmd               *exec.Cmd
	log               *lockedBuffer
}

type gwOpts struct {
	bin      string
	tenants  string // YAML list items under tenants:
	join     *gw    // join this gateway's embedded NATS (started with natsLsn)
	natsLsn  bool   // expose the embedded NATS on a port
	dataDir  string
	addr     string
	noConfig bool
	extra    string // more top-level YAML for the config
}

// defaultTenants' fetch deadline is generous: the tests resume sessions
// through a sound guest, and a loaded machine misses the default 50 ms.
const defaultTenants = `
  - name: a
    server_names: [a.test, alias-a.test, localhost]
    default: true
    certificate: {self_signed: true}
    upstream: builtin
    guest: {module: "builtin:sessioncache", fetch_deadline: 5s}
`

func startGW(t *testing.T, o gwOpts) *gw {
	t.Helper()
	g := &gw{addr: o.addr, admin: freeAddr(t), dataDir: o.dataDir, log: &lockedBuffer{}}
	if g.addr == "" {
		g.addr = freeAddr(t)
	}
	if g.dataDir == "" {
		g.dataDir = t.TempDir()
	}
	if o.tenants == "" {
		o.tenants = defaultTenants
	}
	args := []string{"serve", "--data-dir", g.dataDir, "--listen", g.addr, "--admin", g.admin}
	if !o.noConfig {
		nats := "nats: {storage: memory}\n"
		switch {
		case o.join != nil:
			nats = fmt.Sprintf("nats: {url: %q, nkey_file: %q}\n", "nats://"+o.join.nats,
				filepath.Join(o.join.dataDir, "nats-gateway.nk"))
		case o.natsLsn:
			g.nats = freeAddr(t)
			nats = fmt.Sprintf("nats: {storage: memory, embedded: {listen: %q}}\n", g.nats)
		}
		cfg := fmt.Sprintf("wasm: {cache_dir: %q}\nsealing:\n  keys:\n    - {id: k1, key: %q}\n%s%stenants:%s",
			wasmCache, testSealingKey, nats, o.extra, o.tenants)
		file := filepath.Join(t.TempDir(), "tlsgate.yaml")
		if err := os.WriteFile(file, []byte(cfg), 0o600); err != nil {
			t.Fatal(err)
		}
		args = append(args, "--config", file)
	}
	g.cmd = exec.Command(o.bin, args...)
	g.cmd.Stdout, g.cmd.Stderr = g.log, g.log
	if err := g.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { g.stop(t) })
	deadline := time.Now().Add(2 * time.Minute) // generous: a loaded machine, maybe an empty compilation cache
	for {
		resp, err := http.Get("http://" + g.admin + "/readyz")
		if err == nil {
			resp.Body.Close()
			// Ready, and this process (not another one that got the same
			// free port between freeAddr and its bind) says so.
			if resp.StatusCode == 200 && strings.Contains(g.log.String(), "tlsgate ready") {
				return g
			}
		}
		if time.Now().After(deadline) || g.cmd.ProcessState != nil {
			t.Fatalf("tlsgate did not become ready in 2 minutes; log:\n%s", g.log)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// lockedBuffer is a bytes.Buffer a process writes while the test reads it.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// stop sends SIGTERM and expects a clean exit within the shutdown deadline.
func (g *gw) stop(t *testing.T) {
	if g.cmd.Process == nil || g.cmd.ProcessState != nil {
		return
	}
	g.cmd.Process.Signal(syscall.SIGTERM)
	done := make(chan error, 1)
	go func() { done <- g.cmd.Wait() }()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("tlsgate exited with %v after SIGTERM; log:\n%s", err, g.log)
		}
	case <-time.After(time.Minute): // a bound on a hang, not on speed
		g.cmd.Process.Kill()
		<-done
		t.Errorf("tlsgate did not exit within a minute of SIGTERM")
	}
}

// metric returns the sum of a metric's series whose labels contain every
// name="value" pair given, scraped from /metrics.
func (g *gw) metric(t *testing.T, name string, labels ...string) float64 {
	t.Helper()
	resp, err := http.Get("http://" + g.admin + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var sum float64
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		line := sc.Text()
		if !strings.HasPrefix(line, name+"{") && !strings.HasPrefix(line, name+" ") {
			continue
		}
		ok := true
		for _, l := range labels {
			if !strings.Contains(line, l) {
				ok = false
			}
		}
		if ok {
			f := strings.Fields(line)
			v, _ := strconv.ParseFloat(f[len(f)-1], 64)
			sum += v
		}
	}
	return sum
}

// sClient runs openssl s_client once and returns "New" or "Reused".
func sClient(t *testing.T, addr, sni, sessFile string, resume bool, args ...string) string {
	t.Helper()
	a := []string{"s_client", "-connect", addr, "-servername", sni, "-ign_eof"}
	if resume {
		a = append(a, "-sess_in", sessFile)
	} else {
		a = append(a, "-sess_out", sessFile)
	}
	a = append(a, args...)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "openssl", a...)
	cmd.Stdin = strings.NewReader("GET / HTTP/1.0\r\nHost: " + sni + "\r\n\r\n")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("openssl %s: %v\n%s", strings.Join(a, " "), err, out)
	}
	for _, line := range strings.Split(string(out), "\n") {
		if strings.HasPrefix(line, "New,") || strings.HasPrefix(line, "Reused,") {
			return strings.SplitN(line, ",", 2)[0]
		}
	}
	t.Fatalf("openssl printed neither New nor Reused:\n%s", out)
	return ""
}

// resumeWithOpenSSL makes a session on gateway a and reports how the
// second connection, to gateway b, went; sessions are stored
// asynchronously, so it waits for a's store first, and the resumption is
// retried briefly while it is "New" on a fresh file.
func resumeWithOpenSSL(t *testing.T, a, b *gw, sni string, args ...string) string {
	t.Helper()
	var got string
	for attempt := 0; attempt < 3; attempt++ {
		sess := filepath.Join(t.TempDir(), "sess.pem")
		stored := a.stores(t)
		if first := sClient(t, a.addr, sni, sess, false, args...); first != "New" {
			t.Fatalf("first connection: %s", first)
		}
		if _, err := os.Stat(sess); err != nil {
			return "New" // the server offered nothing resumable: openssl saved no session
		}
		a.waitStores(t, stored)
		if got = sClient(t, b.addr, sni, sess, true, args...); got == "Reused" {
			return got
		}
	}
	return got
}

// stores is how many session stores g has run, whatever their result.
func (g *gw) stores(t *testing.T) float64 {
	t.Helper()
	return g.metric(t, "tlsgate_session_stores_total")
}

// waitStores waits until g has run a store since it had run before (see
// stores), bounded generously; past the bound it returns all the same, and
// what the caller checks next fails with its own message.
func (g *gw) waitStores(t *testing.T, before float64) {
	t.Helper()
	for deadline := time.Now().Add(30 * time.Second); g.stores(t) <= before && time.Now().Before(deadline); {
		time.Sleep(10 * time.Millisecond)
	}
}
