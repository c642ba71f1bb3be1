package gateway

import (
	"context"
	"crypto/tls"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tlsgate/tlsgate/gateway/config"
	"github.com/tlsgate/tlsgate/gateway/natskv"
	"github.com/tlsgate/tlsgate/guests/prebuilt"
)

// waitCounter waits, bounded, until a counter series reaches want.
func waitCounter(t *testing.T, g *Gateway, metric, label, value string, want float64) {
	t.Helper()
	deadline := time.Now().Add(time.Minute)
	for counterValue(t, g, metric, label, value) < want {
		if time.Now().After(deadline) {
			t.Fatalf("%s{%s=%q} stayed below %v for a minute", metric, label, value, want)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// A module pushed to the NATS object store reaches every gateway of the
// fleet; a bad one is refused and the previous one keeps serving.
func TestDeployedGuestReachesTheFleet(t *testing.T) {
	addr, dir := freePort(t), t.TempDir()
	srv := startNATS(t, addr, dir)
	defer srv.Close(context.Background())
	ctx := context.Background()
	admin, err := natskv.Connect(ctx, natskv.WithInProcess(srv), natskv.WithLogger(testLogger(t)),
		natskv.WithNkeySeedFile(filepath.Join(dir, "deployer.nk")))
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close(ctx)
	push := func(wasm []byte) {
		t.Helper()
		if _, err := admin.PutGuestModule(ctx, "cache", wasm); err != nil {
			t.Fatal(err)
		}
	}
	push(prebuilt.SessionCache)

	tenant := cacheTenant("a", "a.test")
	tenant.Guest = &config.Guest{Module: "nats:cache", FetchDeadline: 5 * time.Second} // generous: a busy machine
	gws := startJoined(t, 2, addr, dir, tenant)
	a, b := gws[0], gws[1]
	if _, second := resumeOnce(t, a, b.addr(), clientOpts{sni: "a.test", version: tls.VersionTLS13}); !second.state.DidResume {
		t.Fatal("session made on A with the deployed guest did not resume on B")
	}

	// The watch reports the module as it starts: a gateway that holds those
	// bytes does not reload for it.
	time.Sleep(2 * guestWatchDebounce)
	for _, g := range gws {
		if n := counterValue(t, g, "tlsgate_config_reloads_total", "result", "ok"); n != 0 {
			t.Fatalf("%v reloads for the module the gateway already holds, want none", n)
		}
	}

	trap, err := os.ReadFile(faultGuest("trap"))
	if err != nil {
		t.Fatal(err)
	}
	push(trap)
	for _, g := range gws {
		waitCounter(t, g, "tlsgate_config_reloads_total", "result", "ok", 1)
	}
	for _, g := range gws {
		o := clientOpts{sni: "a.test", version: tls.VersionTLS13, cache: tls.NewLRUClientSessionCache(1)}
		dial(t, g.addr(), o)
		g.waitStores(t)
		if v := dial(t, g.addr(), o); v.state.DidResume || !contains(v.body, "200 OK") {
			t.Fatalf("with the trapping guest deployed: resumed=%v page %q", v.state.DidResume, v.body)
		}
	}

	push([]byte("\x00asm\x01\x00\x00\x00 this is not a module"))
	for _, g := range gws {
		waitCounter(t, g, "tlsgate_config_reloads_total", "result", "refused", 1)
		if v := dial(t, g.addr(), clientOpts{sni: "a.test", version: tls.VersionTLS13}); !contains(v.body, "200 OK") {
			t.Fatalf("after a refused module the gateway stopped serving: %q", v.body)
		}
	}

	push(prebuilt.SessionCache)
	for _, g := range gws {
		waitCounter(t, g, "tlsgate_config_reloads_total", "result", "ok", 2)
		eventuallyResumes(t, g, "a.test")
	}
}

func TestMissingDeployedGuestFailsStart(t *testing.T) {
	addr, dir := freePort(t), t.TempDir()
	srv := startNATS(t, addr, dir)
	defer srv.Close(context.Background())
	tenant := cacheTenant("a", "a.test")
	tenant.Guest = &config.Guest{Module: "nats:nope"}
	cfg := testConfig(t, tenant)
	joinNATS(cfg, addr, dir)
	g, err := New(context.Background(), cfg, WithLogger(testLogger(t)))
	if err == nil {
		g.Close(context.Background())
		t.Fatal("started with a guest module that is not deployed")
	}
	if !strings.Contains(err.Error(), "tenants[0].guest.module") || !strings.Contains(err.Error(), "not found") {
		t.Fatalf("error %q should name the field and say the module is not found", err)
	}
}
