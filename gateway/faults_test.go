package gateway

import (
	"context"
	"crypto/tls"
	"net"
	"path/filepath"
	"testing"
	"time"

	"github.com/tlsgate/tlsgate/gateway/config"
	"github.com/tlsgate/tlsgate/gateway/natskv"
)

// A guest that fails in any way costs a full handshake, never a connection.
func TestFailingGuestMeansFullHandshake(t *testing.T) {
	tests := []struct {
		name       string
		guest      string
		wantResult resumeResult
		deadline   time.Duration // the fetch deadline: short only where it is what stops the guest
	}{
		{"trap", "trap", resultGuestError, 5 * time.Second},
		{"infinite loop", "loop_fetch", resultTimeout, 30 * time.Millisecond},
		{"garbage session", "garbage_session", resultTamper, 5 * time.Second},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tn := cacheTenant("f", "f.test")
			tn.Guest = &config.Guest{Module: faultGuest(tt.guest), FetchDeadline: tt.deadline}
			cfg := testConfig(t, tn)
			g := startGateway(t, cfg)
			cache := tls.NewLRUClientSessionCache(1)
			for i := range 5 {
				v := dial(t, g.addr(), clientOpts{sni: "f.test", version: tls.VersionTLS13, cache: cache})
				if v.state.DidResume {
					t.Fatalf("connection %d resumed through a failing guest", i)
				}
				if !contains(v.body, "200 OK") {
					t.Fatalf("connection %d got no page:\n%s", i, v.body)
				}
				g.waitStores(t)
			}
			if n := counterValue(t, g, "tlsgate_resumption_attempts_total", "result", string(tt.wantResult)); n != 4 {
				t.Errorf("%s attempts = %v, want 4 (one per resumption attempt)", tt.wantResult, n)
			}
		})
	}
}

func freePort(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// startNATS starts a NATS server for gateways that join it by URL (see
// joinNATS): data in dir, and a gateway and a deployer user whose seeds
// are kept in dir too, so a restart on the same dir admits the same users.
func startNATS(t *testing.T, addr, dir string) *natskv.Server {
	t.Helper()
	var opts []natskv.ServerOption
	for _, u := range []struct {
		file string
		role natskv.Role
	}{{"gateway.nk", natskv.RoleGateway}, {"deployer.nk", natskv.RoleDeployer}} {
		pub, err := natskv.LoadOrCreateNkey(filepath.Join(dir, u.file))
		if err != nil {
			t.Fatal(err)
		}
		opts = append(opts, natskv.WithNkeyUser(pub, u.role))
	}
	s, err := natskv.StartEmbedded(context.Background(), append(opts, natskv.WithClientListen(addr), natskv.WithDataDir(dir),
		natskv.WithServerLogger(testLogger(t)))...)
	if err != nil {
		t.Fatalf("start nats on %s: %v", addr, err)
	}
	// The sessions bucket, made by a deployer: a gateway's user may not
	// create streams (on an external NATS, the operator makes it).
	c := natsClient(t, "nats://"+addr, filepath.Join(dir, "deployer.nk"))
	if err := c.EnsureSessions(context.Background(), "file", 1); err != nil {
		t.Fatal(err)
	}
	for i := 0; ; i++ {
		if _, err := c.MigrateBuckets(context.Background()); err == nil { // binds the bucket, and nothing to migrate
			break
		} else if i == 100 {
			t.Fatalf("the sessions bucket on %s: %v", addr, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
	c.Close(context.Background())
	return s
}

// joinNATS makes cfg use the server startNATS(t, addr, dir) started, as a
// gateway.
func joinNATS(cfg *config.Config, addr, dir string) {
	cfg.NATS.URL = "nats://" + addr
	cfg.NATS.NkeyFile = filepath.Join(dir, "gateway.nk")
}

// startJoined starts n gateways serving tenants, each joined to the NATS
// server startNATS(t, addr, dir) started.
func startJoined(t *testing.T, n int, addr, dir string, tenants ...config.Tenant) []*Gateway {
	t.Helper()
	var gws []*Gateway
	for range n {
		cfg := testConfig(t, tenants...)
		joinNATS(cfg, addr, dir)
		gws = append(gws, startGateway(t, cfg))
	}
	return gws
}

// eventuallyResumes makes fresh sessions until one resumes, for up to 10 s.
func eventuallyResumes(t *testing.T, g *Gateway, sni string) {
	t.Helper()
	deadline := time.Now().Add(time.Minute)
	for time.Now().Before(deadline) {
		o := clientOpts{sni: sni, version: tls.VersionTLS13, cache: tls.NewLRUClientSessionCache(1)}
		dial(t, g.addr(), o)
		g.waitStores(t)
		if dial(t, g.addr(), o).state.DidResume {
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatal("no session resumed within a minute")
}

func TestNATSDownMeansFullHandshakesThenRecovers(t *testing.T) {
	addr, dir := freePort(t), t.TempDir()
	srv := startNATS(t, addr, dir)
	defer func() { srv.Close(context.Background()) }()
	cfg := testConfig(t, cacheTenant("a", "a.test"))
	joinNATS(cfg, addr, dir)
	cfg.NATS.Storage = "file"
	g := startGateway(t, cfg)
	eventuallyResumes(t, g, "a.test")

	// A session made before the outage, offered during it.
	held := clientOpts{sni: "a.test", version: tls.VersionTLS13, cache: tls.NewLRUClientSessionCache(1)}
	dial(t, g.addr(), held)
	g.waitStores(t)

	if err := srv.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	for i := range 5 {
		o := held
		if i > 0 {
			o = clientOpts{sni: "a.test", version: tls.VersionTLS12, cache: tls.NewLRUClientSessionCache(1)}
		}
		start := time.Now()
		v, err := tryDial(g.addr(), o)
		if err != nil {
			t.Fatalf("connection %d during the NATS outage failed: %v", i, err)
		}
		if v.state.DidResume || !contains(v.body, "200 OK") {
			t.Fatalf("connection %d during the outage: resumed=%v body %q", i, v.state.DidResume, v.body)
		}
		if d := time.Since(start); d > 2*time.Second {
			t.Errorf("connection %d took %v during the outage", i, d)
		}
	}
	g.waitStores(t)

	srv = startNATS(t, addr, dir)
	deadline := time.Now().Add(time.Minute)
	for !g.kv.Connected() {
		if time.Now().After(deadline) {
			t.Fatal("gateway did not reconnect to NATS in a minute")
		}
		time.Sleep(50 * time.Millisecond)
	}
	eventuallyResumes(t, g, "a.test")
}

// With a URL and nothing listening, the gateway starts anyway and serves
// full handshakes; sessions resume once NATS appears.
func TestStartsWithNATSDown(t *testing.T) {
	addr, dir := freePort(t), t.TempDir()
	if _, err := natskv.LoadOrCreateNkey(filepath.Join(dir, "gateway.nk")); err != nil {
		t.Fatal(err)
	}
	cfg := testConfig(t, cacheTenant("a", "a.test"))
	joinNATS(cfg, addr, dir)
	g := startGateway(t, cfg)
	o := clientOpts{sni: "a.test", version: tls.VersionTLS13, cache: tls.NewLRUClientSessionCache(1)}
	dial(t, g.addr(), o)
	g.waitStores(t)
	if dial(t, g.addr(), o).state.DidResume {
		t.Fatal("resumed with no NATS at all")
	}
	srv := startNATS(t, addr, dir)
	defer srv.Close(context.Background())
	eventuallyResumes(t, g, "a.test")
}

// A guest with one hook only is called for that hook only: no fault is
// counted for the hook it lacks.
func TestOneHookGuests(t *testing.T) {
	for _, guest := range []string{"fetch_only", "store_only"} {
		t.Run(guest, func(t *testing.T) {
			tn := cacheTenant("h", "h.test")
			tn.Guest = &config.Guest{Module: faultGuest(guest)}
			g := startGateway(t, testConfig(t, tn))
			o := clientOpts{sni: "h.test", version: tls.VersionTLS13, cache: tls.NewLRUClientSessionCache(1)}
			for range 3 {
				if v := dial(t, g.addr(), o); !contains(v.body, "200 OK") {
					t.Fatalf("no page: %s", v.body)
				}
				g.waitStores(t)
			}
			if n := counterValue(t, g, "tlsgate_guest_faults_total", "tenant", "h"); n != 0 {
				t.Errorf("%v guest faults counted for a one-hook guest", n)
			}
			if n := counterValue(t, g, "tlsgate_resumption_attempts_total", "result", "guest_error"); n != 0 {
				t.Errorf("%v guest errors counted", n)
			}
		})
	}
}
