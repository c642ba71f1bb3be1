package gateway

import (
	"context"
	"crypto/tls"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tlsgate/tlsgate/gateway/config"
	"github.com/tlsgate/tlsgate/guests/prebuilt"
	"github.com/tlsgate/tlsgate/wasmhost"
)

func TestReloadSwapsTenantsAndKeepsSessions(t *testing.T) {
	cfg := testConfig(t, cacheTenant("a", "a.test"))
	g := startGateway(t, cfg)
	o := clientOpts{sni: "a.test", version: tls.VersionTLS13, cache: tls.NewLRUClientSessionCache(1)}
	dial(t, g.addr(), o)
	g.waitStores(t)

	next := *cfg
	next.Tenants = []config.Tenant{cacheTenant("a", "a.test"), cacheTenant("b", "b.test")}
	next.FillDefaults()
	if err := g.Reload(context.Background(), &next); err != nil {
		t.Fatalf("Reload: %v", err)
	}
	if v := dial(t, g.addr(), clientOpts{sni: "b.test", version: tls.VersionTLS13}); !contains(v.body, "tenant:          b") {
		t.Fatalf("new tenant b not served after reload:\n%s", v.body)
	}
	// Same keys, same bucket: a session made before the reload resumes.
	if !dial(t, g.addr(), o).state.DidResume {
		t.Fatal("session made before the reload did not resume after it")
	}
}

func TestBadReloadIsRefusedAndOldKeepsServing(t *testing.T) {
	cfg := testConfig(t, cacheTenant("a", "a.test"))
	g := startGateway(t, cfg)
	broken := filepath.Join(t.TempDir(), "broken.wasm")
	os.WriteFile(broken, []byte("\x00asm\x01\x00\x00\x00garbage"), 0o600)
	helloOnly := watGuest(t, "client_hello_only")
	tests := []struct {
		name    string
		edit    func(c *config.Config)
		wantErr string
	}{
		{"guest that is not wasm", func(c *config.Config) { c.Tenants[0].Guest.Module = broken }, "tenants[0].guest.module"},
		{"guest with the wrong marker", func(c *config.Config) { c.Tenants[0].Guest.Module = faultGuest("marker_signature") }, "tenants[0].guest.module"},
		{"guest whose init fails", func(c *config.Config) { c.Tenants[0].Guest.Module = faultGuest("init_fails") }, "tenants[0].guest"},
		{"guest with no tenant hook", func(c *config.Config) { c.Tenants[0].Guest.Module = helloOnly }, "exports none of"},
		{"listener guest without the client-hello hook", func(c *config.Config) {
			c.Listeners[0].ClientHello = &config.ListenerGuest{Module: faultGuest("fetch_only"), Deadline: time.Second, MaxInstances: 1}
		}, "listeners[0].client_hello.module"},
		{"missing certificate", func(c *config.Config) {
			c.Tenants[0].Certificate = config.Certificate{CertFile: "/nonexistent.crt", KeyFile: "/nonexistent.key"}
		}, "tenants[0].certificate"},
		{"listener change needs a restart", func(c *config.Config) { c.Listeners = []config.Listener{{Address: "127.0.0.1:1"}} }, "listeners: changed"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			next := *cfg
			next.Tenants = []config.Tenant{cacheTenant("a", "a.test")}
			next.FillDefaults()
			tt.edit(&next)
			err := g.Reload(context.Background(), &next)
			if !errors.Is(err, ErrReloadRefused) || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("Reload error = %v, want refused naming %q", err, tt.wantErr)
			}
			_, second := resumeOnce(t, g, g.addr(), clientOpts{sni: "a.test", version: tls.VersionTLS13})
			if !second.state.DidResume {
				t.Fatal("the configuration in force stopped resuming after a refused reload")
			}
		})
	}
}

// Handshakes under way while reloads swap snapshots all complete.
func TestReloadUnderLoad(t *testing.T) {
	cfg := testConfig(t, cacheTenant("a", "a.test"))
	g := startGateway(t, cfg)
	var failed atomic.Int64
	var done atomic.Bool
	var wg sync.WaitGroup
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			cache := tls.NewLRUClientSessionCache(1)
			for i := 0; i < 200 && !done.Load(); i++ {
				if _, err := tryDial(g.addr(), clientOpts{sni: "a.test", version: tls.VersionTLS13, cache: cache}); err != nil {
					failed.Add(1)
				}
			}
		}()
	}
	deadline := time.Now().Add(3 * time.Second)
	for i := 0; i < 10 && time.Now().Before(deadline); i++ {
		next := *cfg
		next.Tenants = []config.Tenant{cacheTenant("a", "a.test")}
		next.FillDefaults()
		if err := g.Reload(context.Background(), &next); err != nil {
			t.Fatalf("reload %d: %v", i, err)
		}
	}
	done.Store(true)
	wg.Wait()
	if n := failed.Load(); n != 0 {
		t.Fatalf("%d connections failed during reloads", n)
	}
}

// A handshake that never progresses does not hold shutdown past its
// deadline (the handshake timeout is far longer).
func TestCloseHonoursDeadline(t *testing.T) {
	cfg := testConfig(t, cacheTenant("a", "a.test"))
	cfg.HandshakeTimeout = time.Minute
	g, err := New(context.Background(), cfg, WithLogger(testLogger(t)))
	if err != nil {
		t.Fatal(err)
	}
	silent, err := net.Dial("tcp", g.addr()) // connects, never says hello
	if err != nil {
		t.Fatal(err)
	}
	defer silent.Close()
	time.Sleep(50 * time.Millisecond)
	ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
	defer cancel()
	start := time.Now()
	g.Close(ctx)
	if d := time.Since(start); d > 3*time.Second {
		t.Fatalf("Close took %v with a 500ms deadline", d)
	}
}

// A reload whose configuration does not even load (a missing file, a YAML
// error) is refused and counted like one that does not build.
func TestReloadThatDoesNotLoadIsCounted(t *testing.T) {
	g := startGateway(t, testConfig(t, cacheTenant("a", "a.test")))
	for range 3 {
		err := g.ReloadWith(context.Background(), func() (*config.Config, error) {
			return nil, errors.New("config: tlsgate.yaml: yaml: line 17: did not find expected key")
		})
		if !errors.Is(err, ErrReloadRefused) {
			t.Fatalf("ReloadWith a failing load: %v, want ErrReloadRefused", err)
		}
	}
	if n := counterValue(t, g, "tlsgate_config_reloads_total", "result", "refused"); n != 3 {
		t.Errorf("refused reloads = %v, want 3", n)
	}
	if v := dial(t, g.addr(), clientOpts{sni: "a.test", version: tls.VersionTLS13}); !contains(v.body, "200 OK") {
		t.Fatalf("the gateway stopped serving after refused reloads: %q", v.body)
	}
}

// A data dir that is a file, or that other users can reach into, is refused
// by New and by Check alike, naming the problem.
func TestDataDirIsChecked(t *testing.T) {
	file := filepath.Join(t.TempDir(), "a-file")
	os.WriteFile(file, nil, 0o600)
	open := filepath.Join(t.TempDir(), "open")
	os.Mkdir(open, 0o775)
	os.Chmod(open, 0o775)
	tests := []struct {
		name, dir, want string
	}{
		{"a file", file, "is not a directory"},
		{"writable by others", open, "is mode 0775, writable by other users"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := testConfig(t, cacheTenant("a", "a.test"))
			cfg.DataDir = tt.dir
			if g, err := New(context.Background(), cfg, WithLogger(testLogger(t))); err == nil {
				g.Close(context.Background())
				t.Fatal("New accepted the data dir")
			} else if !strings.Contains(err.Error(), "data_dir: "+tt.dir+" "+tt.want) {
				t.Errorf("New: %v, want %q", err, tt.want)
			}
			if _, err := Check(context.Background(), cfg); err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("Check: %v, want %q", err, tt.want)
			}
		})
	}
}

// A shutdown whose deadline cuts a running request says so, and does not
// blame the store queue, which had nothing left to store.
func TestCloseSaysWhatItCut(t *testing.T) {
	hang := make(chan struct{})
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-hang:
		case <-r.Context().Done():
		}
	}))
	defer up.Close()
	defer close(hang)
	tn := cacheTenant("a", "a.test")
	tn.Upstream = up.URL
	cfg := testConfig(t, tn)
	g, err := New(context.Background(), cfg, WithLogger(testLogger(t)))
	if err != nil {
		t.Fatal(err)
	}
	go tryDial(g.addr(), clientOpts{sni: "a.test", version: tls.VersionTLS13}) // its request hangs upstream
	deadline := time.Now().Add(time.Minute)
	for counterValue(t, g, "tlsgate_handshakes_total", "outcome", "full") < 1 && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	time.Sleep(50 * time.Millisecond) // the request reaches the upstream
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	err = g.Close(ctx)
	if err == nil || !strings.Contains(err.Error(), "still running at the shutdown deadline were cut") {
		t.Fatalf("Close = %v, want it to say requests were cut", err)
	}
	if strings.Contains(err.Error(), "stores") {
		t.Errorf("Close blames the store queue, which was empty: %v", err)
	}
}

// A reload rebuilds only the guests that changed: an unchanged tenant keeps
// its very pool (warm instances, budgets, breaker); a tenant whose guest
// config or module bytes changed gets a new one, and the old one is closed.
func TestReloadKeepsUnchangedTenantsPools(t *testing.T) {
	module := filepath.Join(t.TempDir(), "cache.wasm")
	if err := os.WriteFile(module, prebuilt.SessionCache, 0o600); err != nil {
		t.Fatal(err)
	}
	a, b, c := cacheTenant("a", "a.test"), cacheTenant("b", "b.test"), cacheTenant("c", "c.test")
	c.Guest.Module = module
	cfg := testConfig(t, a, b, c)
	g := startGateway(t, cfg)
	before := map[string]*wasmhost.Pool{}
	for _, name := range []string{"a", "b", "c"} {
		before[name] = g.snap.Load().tenant(name).pool
	}

	next := *cfg
	next.Tenants = []config.Tenant{cacheTenant("a", "a.test"), cacheTenant("b", "b.test"), c}
	next.Tenants[1].Guest.Config = "prefix=other/"
	next.FillDefaults()
	if err := g.Reload(context.Background(), &next); err != nil {
		t.Fatal(err)
	}
	s := g.snap.Load()
	if s.tenant("a").pool != before["a"] || s.tenant("c").pool != before["c"] {
		t.Error("an unchanged tenant's pool was rebuilt by the reload")
	}
	if s.tenant("b").pool == before["b"] {
		t.Error("a tenant whose guest config changed kept its old pool")
	}
	g.retiring.Wait()
	if _, err := before["b"].Fetch(context.Background(), wasmhost.FetchInput{SessionID: make([]byte, 32)}); !errors.Is(err, wasmhost.ErrPoolClosed) {
		t.Errorf("the replaced pool still serves: %v", err)
	}

	// The same path, other bytes: a new module, so a new pool.
	if err := os.WriteFile(module, prebuilt.PolicyCache, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := g.Reload(context.Background(), &next); err != nil {
		t.Fatal(err)
	}
	if g.snap.Load().tenant("c").pool == before["c"] {
		t.Error("a tenant whose module file changed kept its old pool")
	}
	if g.snap.Load().tenant("a").pool != before["a"] {
		t.Error("the second reload rebuilt an unchanged tenant's pool")
	}
	o := clientOpts{sni: "a.test", version: tls.VersionTLS13, cache: tls.NewLRUClientSessionCache(1)}
	if _, second := resumeOnce(t, g, g.addr(), o); !second.state.DidResume {
		t.Error("the kept tenant does not resume after two reloads")
	}
}

// A reload reads a tenant's certificate again only when its files changed:
// an unchanged one is kept as it is, a rewritten one is served at once.
func TestReloadRereadsOnlyChangedCertificates(t *testing.T) {
	dir := t.TempDir()
	crt, key := filepath.Join(dir, "a.crt"), filepath.Join(dir, "a.key")
	if err := WriteSelfSigned(crt, key, []string{"a.test"}, "ecdsa"); err != nil {
		t.Fatal(err)
	}
	a := cacheTenant("a", "a.test")
	a.Certificate = config.Certificate{CertFile: crt, KeyFile: key}
	cfg := testConfig(t, a, cacheTenant("b", "b.test"))
	g := startGateway(t, cfg)
	leafA, leafB := g.snap.Load().tenant("a").cert.Leaf, g.snap.Load().tenant("b").cert.Leaf
	if err := g.Reload(context.Background(), cfg); err != nil {
		t.Fatal(err)
	}
	if g.snap.Load().tenant("a").cert.Leaf != leafA || g.snap.Load().tenant("b").cert.Leaf != leafB {
		t.Error("a reload read unchanged certificates again")
	}
	time.Sleep(10 * time.Millisecond) // a new modification time, even on coarse clocks
	if err := WriteSelfSigned(crt, key, []string{"a.test"}, "ecdsa"); err != nil {
		t.Fatal(err)
	}
	if err := g.Reload(context.Background(), cfg); err != nil {
		t.Fatal(err)
	}
	now := g.snap.Load().tenant("a").cert.Leaf
	if now == leafA || now.SerialNumber.Cmp(leafA.SerialNumber) == 0 {
		t.Fatal("a rewritten certificate file was not read again")
	}
	v := dial(t, g.addr(), clientOpts{sni: "a.test", version: tls.VersionTLS13})
	if got := v.state.PeerCertificates[0].SerialNumber; got.Cmp(now.SerialNumber) != 0 {
		t.Errorf("clients get serial %v, want the new certificate's %v", got, now.SerialNumber)
	}
	if g.snap.Load().tenant("b").cert.Leaf != leafB {
		t.Error("rewriting a's certificate made b's be read again")
	}
}

// TestSwitchingBuiltinGuestKeepsSessions: the Go and AssemblyScript
// reference guests keep sessions under the same keys, so an operator who
// moves a tenant from one to the other by a reload loses no session, in
// either direction, TLS 1.3 and 1.2.
func TestSwitchingBuiltinGuestKeepsSessions(t *testing.T) {
	withGuest := func(module string) config.Tenant {
		tn := cacheTenant("a", "a.test")
		tn.Guest.Module = module
		return tn
	}
	cfg := testConfig(t, withGuest(config.BuiltinSessionCacheGo))
	g := startGateway(t, cfg)
	clients := []clientOpts{
		{sni: "a.test", version: tls.VersionTLS13, cache: tls.NewLRUClientSessionCache(1)},
		{sni: "a.test", version: tls.VersionTLS12, cache: tls.NewLRUClientSessionCache(1)},
	}
	for _, step := range []string{config.BuiltinSessionCache, config.BuiltinSessionCacheGo} {
		for _, o := range clients {
			dial(t, g.addr(), o) // a session made by the guest serving now
		}
		g.waitStores(t)
		next := *cfg
		next.Tenants = []config.Tenant{withGuest(step)}
		next.FillDefaults()
		if err := g.Reload(context.Background(), &next); err != nil {
			t.Fatalf("Reload to %s: %v", step, err)
		}
		for _, o := range clients {
			if !dial(t, g.addr(), o).state.DidResume {
				t.Fatalf("TLS %x: a session stored before the switch to %s did not resume after it", o.version, step)
			}
		}
	}
}
