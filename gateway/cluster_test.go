package gateway

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/tlsgate/tlsgate/gateway/natskv"
	"github.com/tlsgate/tlsgate/internal/bench"
)

// natsCluster is three nats-servers with JetStream clustered over loopback
// routes, admitting the gateway NKey user whose seed is in seed.
type natsCluster struct {
	servers []*server.Server
	seed    string
}

func startNATSCluster(t *testing.T) *natsCluster {
	t.Helper()
	dir := t.TempDir()
	c := &natsCluster{seed: filepath.Join(dir, "gateway.nk")}
	pub, err := natskv.LoadOrCreateNkey(c.seed)
	if err != nil {
		t.Fatal(err)
	}
	routePorts := []string{freePort(t), freePort(t), freePort(t)}
	var routes []string
	for _, a := range routePorts {
		routes = append(routes, "nats://route:route-secret@"+a)
	}
	for i := range 3 {
		_, port, _ := strings.Cut(routePorts[i], ":")
		var cport int
		fmt.Sscan(port, &cport)
		opts := &server.Options{
			ServerName: fmt.Sprintf("n%d", i+1),
			Host:       "127.0.0.1",
			Port:       server.RANDOM_PORT,
			JetStream:  true,
			StoreDir:   filepath.Join(dir, fmt.Sprintf("n%d", i+1)),
			NoSigs:     true,
			Nkeys:      []*server.NkeyUser{{Nkey: pub}},
			Cluster: server.ClusterOpts{Name: "tlsgate-test", Host: "127.0.0.1", Port: cport,
				Username: "route", Password: "route-secret"},
			Routes: server.RoutesFromStr(strings.Join(routes, ",")),
		}
		s, err := server.NewServer(opts)
		if err != nil {
			t.Fatal(err)
		}
		s.SetLogger(serverLog{t}, false, false)
		s.Start()
		c.servers = append(c.servers, s)
		t.Cleanup(s.Shutdown)
	}
	for _, s := range c.servers {
		if !s.ReadyForConnections(30 * time.Second) {
			t.Fatalf("%s not ready", s.Name())
		}
	}
	return c
}

// urls is the cluster's client URLs, comma-separated.
func (c *natsCluster) urls() string {
	var u []string
	for _, s := range c.servers {
		u = append(u, s.ClientURL())
	}
	return strings.Join(u, ",")
}

// benchWindowLength is one measured window of tlsgate bench.
const benchWindowLength = 500 * time.Millisecond

// benchWindow is what tlsgate bench --json reports of one window.
type benchWindow struct {
	Handshakes     int64            `json:"handshakes"`
	Resumed        int64            `json:"resumed"`
	ResumedPercent float64          `json:"resumed_percent"`
	ErrorsTotal    int64            `json:"errors_total"`
	Errors         map[string]int64 `json:"errors"`
}

// runBenchWindow runs tlsgate bench, resume mode over TLS 1.2 tickets, for
// one window against addrs.
func runBenchWindow(t *testing.T, addrs string) benchWindow {
	t.Helper()
	var out, errOut bytes.Buffer
	cmd := bench.NewCommand()
	cmd.SetArgs([]string{"--addr", addrs, "--sni", "a.test", "--mode", "resume", "--tls", "1.2", "--concurrency", "4",
		"--pause", "100ms", "--duration", benchWindowLength.String(), "--count", "5000", "--json"})
	cmd.SetOut(&out)
	cmd.SetErr(&errOut)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	err := cmd.ExecuteContext(ctx)
	var w benchWindow
	if jerr := json.Unmarshal(out.Bytes(), &w); jerr != nil {
		t.Fatalf("tlsgate bench: %v, %v\n%s%s", err, jerr, out.String(), errOut.String())
	}
	return w
}

type serverLog struct{ t *testing.T }

func (serverLog) Noticef(string, ...any) {}
func (serverLog) Warnf(string, ...any)   {}
func (serverLog) Fatalf(f string, a ...any) {
	panic(fmt.Sprintf(f, a...))
}
func (serverLog) Errorf(string, ...any) {}
func (serverLog) Debugf(string, ...any) {}
func (serverLog) Tracef(string, ...any) {}

// streamLeader returns the server leading the sessions bucket's stream, waiting
// (bounded) until the stream exists and has one.
func (c *natsCluster) streamLeader(t *testing.T) *server.Server {
	t.Helper()
	nk, err := nats.NkeyOptionFromSeed(c.seed)
	if err != nil {
		t.Fatal(err)
	}
	nc, err := nats.Connect(c.urls(), nk)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	js, _ := jetstream.New(nc)
	deadline := time.Now().Add(60 * time.Second)
	for time.Now().Before(deadline) {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		s, err := js.Stream(ctx, "KV_"+natskv.SessionsBucket)
		cancel()
		if err == nil && s.CachedInfo().Cluster != nil && s.CachedInfo().Cluster.Leader != "" {
			for _, srv := range c.servers {
				if srv.Name() == s.CachedInfo().Cluster.Leader {
					return srv
				}
			}
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatal("the bucket's stream has no leader after 60s")
	return nil
}

// Two gateways on a three-node NATS cluster with R3 buckets, under load
// from tlsgate bench:
// killing the node that leads the bucket fails no connection, loses no
// session whose store was acknowledged before, and resumption comes back.
func TestClusterNodeLossUnderLoad(t *testing.T) {
	c := startNATSCluster(t)
	var gws []*Gateway
	for range 2 {
		cfg := testConfig(t, cacheTenant("a", "a.test"))
		cfg.NATS.URL, cfg.NATS.NkeyFile = c.urls(), c.seed
		cfg.NATS.Replicas, cfg.NATS.Storage = 3, "file"
		gws = append(gws, startGateway(t, cfg))
	}
	a, b := gws[0], gws[1]
	leader := c.streamLeader(t)
	for _, g := range gws {
		eventuallyResumes(t, g, "a.test")
	}

	// Sessions made and stored (acknowledged) before the kill.
	var before []clientOpts
	for range 40 {
		o := clientOpts{sni: "a.test", version: tls.VersionTLS12, cache: tls.NewLRUClientSessionCache(1)}
		dial(t, a.addr(), o)
		before = append(before, o)
	}
	a.waitStores(t)

	// Load: tlsgate bench against both gateways, every worker going to
	// each in turn (a session primed on one resumes on the other), in
	// windows of half a second, bounded in count.
	addrs := a.addr() + "," + b.addr()
	var windows []benchWindow
	for range 3 {
		windows = append(windows, runBenchWindow(t, addrs))
	}
	killedAt := len(windows)
	t.Logf("killing %s, the leader of the bucket's stream", leader.Name())
	leader.Shutdown()
	killed := time.Now()
	recovered, recoveredAfter := -1, time.Duration(0)
	for len(windows) < killedAt+60 {
		started := time.Since(killed)
		w := runBenchWindow(t, addrs)
		windows = append(windows, w)
		if w.Handshakes > 0 && w.Resumed*100 >= w.Handshakes*99 {
			recovered, recoveredAfter = len(windows)-1-killedAt, started
			break
		}
	}
	for i := 0; i < 2 && recovered >= 0; i++ { // and it stays there
		w := runBenchWindow(t, addrs)
		windows = append(windows, w)
		if w.Handshakes == 0 || w.Resumed*100 < w.Handshakes*95 {
			t.Errorf("window %d after recovering: %d of %d handshakes resumed, want at least 95%%", i, w.Resumed, w.Handshakes)
		}
	}
	var hs, res, errs int64
	for i, w := range windows {
		hs, res, errs = hs+w.Handshakes, res+w.Resumed, errs+w.ErrorsTotal
		t.Logf("window %2d (%s): %4d handshakes, %5.1f%% resumed, %d errors %v", i,
			map[bool]string{true: "after the kill", false: "before"}[i >= killedAt], w.Handshakes, w.ResumedPercent, w.ErrorsTotal, w.Errors)
	}
	t.Logf("tlsgate bench: %d handshakes, %d resumed, %d failed; back to >= 99%% resumed from window %d after the kill, which began %v after it",
		hs, res, errs, recovered, recoveredAfter.Round(10*time.Millisecond))
	if errs != 0 {
		t.Errorf("%d connections failed while a NATS node died, want 0", errs)
	}
	if recovered < 0 {
		t.Errorf("resumption did not come back to 99%% in 60 windows after the kill")
	}
	lost := 0
	for _, o := range before {
		if !dial(t, b.addr(), o).state.DidResume {
			lost++
		}
	}
	if lost > 0 {
		t.Errorf("%d of %d sessions stored before the kill no longer resume", lost, len(before))
	}
}
