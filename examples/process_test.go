package examples_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// process is a command the test started; t.Cleanup stops it.
type process struct {
	name string
	cmd  *exec.Cmd
	out  *syncBuffer
	done chan struct{} // closed when the process has exited
	err  error         // Wait's result, valid after done
}

// startProcess starts bin with args and registers its stop with t: SIGTERM,
// then SIGKILL if it has not exited within 10s. Its output is logged when
// the test fails.
func startProcess(t *testing.T, name, bin string, args []string, env ...string) *process {
	t.Helper()
	p := &process{name: name, out: &syncBuffer{}, done: make(chan struct{})}
	p.cmd = exec.Command(bin, args...)
	if len(env) > 0 {
		p.cmd.Env = append(os.Environ(), env...)
	}
	p.cmd.Stdout, p.cmd.Stderr = p.out, p.out
	if err := p.cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", name, err)
	}
	go func() {
		p.err = p.cmd.Wait()
		close(p.done)
	}()
	t.Cleanup(func() {
		p.stop()
		if t.Failed() {
			t.Logf("output of %s:\n%s", name, p.out.String())
		}
	})
	return p
}

// stop ends the process, gracefully first; at most 15s.
func (p *process) stop() {
	select {
	case <-p.done:
		return
	default:
	}
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
		return
	case <-time.After(10 * time.Second):
	}
	_ = p.cmd.Process.Kill()
	select {
	case <-p.done:
	case <-time.After(5 * time.Second):
	}
}

// exited reports whether the process has ended.
func (p *process) exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// gateway is a running tlsgate serve.
type gateway struct {
	*process
	admin   string // admin address, e.g. 127.0.0.1:9090
	dataDir string
}

// startGateway runs tlsgate serve with config and a fresh data dir, and
// waits until its admin port answers /readyz with NATS connected.
func startGateway(t *testing.T, name, config, admin string, env ...string) *gateway {
	t.Helper()
	dataDir := t.TempDir()
	p := startProcess(t, name, tlsgateBin, []string{"serve", "--config", config, "--data-dir", dataDir}, env...)
	g := &gateway{process: p, admin: admin, dataDir: dataDir}
	g.waitReady(t)
	return g
}

// waitReady polls /readyz until it reports NATS connected, for at most 3
// minutes (the first start compiles the guests, slowly on a loaded machine).
func (g *gateway) waitReady(t *testing.T) {
	t.Helper()
	client := &http.Client{Timeout: 2 * time.Second}
	deadline := time.Now().Add(3 * time.Minute)
	var last string
	for time.Now().Before(deadline) {
		if g.exited() {
			t.Fatalf("%s exited before it was ready: %v\n%s", g.name, g.err, g.out.String())
		}
		resp, err := client.Get("http://" + g.admin + "/readyz")
		if err == nil {
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			last = string(b)
			if resp.StatusCode == http.StatusOK && strings.Contains(last, "nats: connected") {
				return
			}
		} else {
			last = err.Error()
		}
		time.Sleep(200 * time.Millisecond)
	}
	t.Fatalf("%s not ready after 3 minutes; last /readyz: %s\n%s", g.name, last, g.out.String())
}

// metric returns the admin /metrics text.
func (g *gateway) metrics(t *testing.T) string {
	t.Helper()
	client := &http.Client{Timeout: 30 * time.Second}
	resp, err := client.Get("http://" + g.admin + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// runCommand runs bin with args, at most timeout, and returns its combined output.
func runCommand(t *testing.T, timeout time.Duration, stdin string, bin string, args ...string) (string, error) {
	t.Helper()
	return runCommandIn(t, timeout, stdin, nil, bin, args...)
}

// runCommandEnv is runCommand with no input and env added to the environment.
func runCommandEnv(t *testing.T, timeout time.Duration, env []string, bin string, args ...string) (string, error) {
	t.Helper()
	return runCommandIn(t, timeout, "", env, bin, args...)
}

func runCommandIn(t *testing.T, timeout time.Duration, stdin string, env []string, bin string, args ...string) (string, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, args...)
	if len(env) > 0 {
		cmd.Env = append(os.Environ(), env...)
	}
	cmd.Stdin = strings.NewReader(stdin)
	cmd.WaitDelay = time.Second
	out, err := cmd.CombinedOutput()
	if ctx.Err() != nil {
		err = errors.Join(err, ctx.Err())
	}
	return string(out), err
}

// syncBuffer is a bytes.Buffer safe for a process's output and the test.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}
