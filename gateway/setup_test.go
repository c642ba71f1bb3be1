package gateway

import (
	"bytes"
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tlsgate/tlsgate/gateway/config"
)

// wasmCache is one on-disk compilation cache for the whole package, so the
// Go reference guest compiles once per test run, not once per gateway.
var wasmCache string

func TestMain(m *testing.M) {
	if cfg := os.Getenv(childGatewayEnv); cfg != "" {
		runChildGateway(cfg) // never returns
	}
	dir, err := os.MkdirTemp("", "tlsgate-wasm-cache-")
	if err != nil {
		panic(err)
	}
	wasmCache = dir
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

const testKey = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8="

// faultGuest is a path to one of the conformance kit's fault guests.
func faultGuest(name string) string {
	return filepath.Join("..", "wasmhost", "wasmhosttest", "testdata", name+".wasm")
}

func cacheTenant(name string, sni ...string) config.Tenant {
	return config.Tenant{
		Name:        name,
		ServerNames: sni,
		Certificate: config.Certificate{SelfSigned: true},
		Upstream:    config.BuiltinUpstream,
		Guest:       &config.Guest{Module: config.BuiltinSessionCache},
	}
}

// testConfig is a gateway on ephemeral loopback ports with memory-backed
// embedded NATS and a fixed sealing key.
func testConfig(t *testing.T, tenants ...config.Tenant) *config.Config {
	t.Helper()
	c := &config.Config{
		DataDir:   t.TempDir(),
		Listeners: []config.Listener{{Address: "127.0.0.1:0"}},
		Admin:     config.Admin{Address: "127.0.0.1:0"},
		NATS:      config.NATS{Storage: "memory"},
		Sealing:   config.Sealing{Keys: []config.SealingKey{{ID: "k1", Key: testKey}}},
		Wasm:      config.Wasm{CacheDir: wasmCache},
		Tenants:   tenants,
	}
	c.FillDefaults()
	if err := c.Validate(); err != nil {
		t.Fatalf("test config: %v", err)
	}
	return c
}

func testLogger(t *testing.T) *slog.Logger {
	if testing.Verbose() {
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	return slog.New(slog.DiscardHandler)
}

func startGateway(t *testing.T, cfg *config.Config) *Gateway {
	t.Helper()
	// Generous: the first gateway of a run compiles the Go reference guest
	// with an empty cache, slow on a loaded machine.
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	g, err := New(ctx, cfg, WithLogger(testLogger(t)))
	if err != nil {
		t.Fatalf("gateway.New: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		if err := g.Close(ctx); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return g
}

func (g *Gateway) addr() string { return g.Addrs()[0].String() }

// waitStores waits until the store queue has run everything queued.
func (g *Gateway) waitStores(t *testing.T) {
	t.Helper()
	deadline := time.Now().Add(time.Minute)
	for !g.stores.idle() {
		if time.Now().After(deadline) {
			t.Fatal("store queue did not drain in a minute")
		}
		time.Sleep(2 * time.Millisecond)
	}
}

// visit is one client connection: a handshake, then GET / (which also lets
// a TLS 1.3 client receive its ticket).
type visit struct {
	state tls.ConnectionState
	body  string
}

type clientOpts struct {
	sni     string
	version uint16
	cache   tls.ClientSessionCache
	alpn    []string
	keyLog  io.Writer
}

func dial(t *testing.T, addr string, o clientOpts) visit {
	t.Helper()
	v, err := tryDial(addr, o)
	if err != nil {
		t.Fatalf("connection to %s (sni %q): %v", addr, o.sni, err)
	}
	return v
}

func tryDial(addr string, o clientOpts) (visit, error) {
	conf := &tls.Config{
		ServerName:         o.sni,
		InsecureSkipVerify: true,
		MinVersion:         o.version,
		MaxVersion:         o.version,
		ClientSessionCache: o.cache,
		NextProtos:         o.alpn,
		KeyLogWriter:       o.keyLog,
	}
	// Generous: a handshake and a page, slow on a loaded machine; a refused
	// handshake fails at once whatever the deadline.
	c, err := tls.DialWithDialer(&net.Dialer{Timeout: 30 * time.Second}, "tcp", addr, conf)
	if err != nil {
		return visit{}, err
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(30 * time.Second))
	host := o.sni
	if host == "" {
		host = addr
	}
	if _, err := fmt.Fprintf(c, "GET / HTTP/1.1\r\nHost: %s\r\nConnection: close\r\n\r\n", host); err != nil {
		return visit{}, err
	}
	body, err := io.ReadAll(c)
	if err != nil {
		return visit{}, err
	}
	return visit{state: c.ConnectionState(), body: string(body)}, nil
}

// resumeOnce makes a session with a full handshake on addrA, waits for its
// store, and reports whether a second connection to addrB resumed it.
func resumeOnce(t *testing.T, gA *Gateway, addrB string, o clientOpts) (first, second visit) {
	t.Helper()
	if o.cache == nil {
		o.cache = tls.NewLRUClientSessionCache(8)
	}
	first = dial(t, gA.addr(), o)
	if first.state.DidResume {
		t.Fatal("first connection resumed: the client cache was not empty")
	}
	gA.waitStores(t)
	second = dial(t, addrB, o)
	return first, second
}

func contains(haystack, needle string) bool { return strings.Contains(haystack, needle) }

var _ = bytes.Contains
