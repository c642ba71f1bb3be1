// Command scalebench measures tlsgate with many tenants (docs/performance.md,
// "Tenants at scale"). For each N it starts a gateway with N tenants (each
// its own SNI name, self-signed certificate and guest section with the
// reference guest), embedded NATS with memory storage and the tenant
// registry, and reports:
//
//   - time to ready and idle RSS (second start: certificates on disk);
//
//   - the first handshake of a tenant never contacted, against a warm one;
//
//   - one full handshake to every tenant, then one resumption each, and the
//     RSS then; a second round of resumptions, and how many resumed;
//
//   - one tenant changed in the file (SIGHUP), and one put in the registry
//     (new, then changed): time until it is served, and failed connections
//     to other tenants meanwhile;
//
//   - a second gateway joined to the first's NATS: time from a tenant put
//     until each gateway serves it.
//
//     go run ./examples/perf/scalebench -n 100,1000,10000
//
// It builds nothing: -bin is a tlsgate binary (examples/perf/scale.sh builds
// one). Everything listens on loopback, on ports the kernel picks.
package main

import (
	"bufio"
	"context"
	"crypto/tls"
	"errors"
	"flag"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/tlsgate/tlsgate/gateway"
	"github.com/tlsgate/tlsgate/gateway/config"
	"github.com/tlsgate/tlsgate/gateway/natskv"
)

const sealingKey = "c2NhbGViZW5jaCBrZXksIG5vdCBmb3IgcHJvZHVjdGk=" // 32 bytes, public: for this benchmark only

func main() {
	ns := flag.String("n", "100,1000", "tenant counts, comma-separated")
	bin := flag.String("bin", "_build/tlsgate", "the tlsgate binary")
	workers := flag.Int("workers", 4, "client connections in parallel")
	flag.StringVar(&layout, "layout", "dir", `where the tenants are: "dir" (tenants_dir, a file each) or "file" (the configuration file's tenants:)`)
	flag.Parse()
	if layout != "dir" && layout != "file" {
		log.Fatalf("-layout %q: want dir or file", layout)
	}
	log.SetFlags(0)
	fmt.Printf("tenants in: %s\n\n", layout)
	fmt.Println("| tenants | ready | idle RSS | cold first handshake (warm) | 1 full + 1 resumed each: RSS | 2nd round resumed | file change applied (failed conns) | registry put / change applied (failed conns) | registry put to gateway A / B |")
	fmt.Println("|---|---|---|---|---|---|---|---|---|")
	for _, f := range strings.Split(*ns, ",") {
		n, err := strconv.Atoi(f)
		if err != nil || n < 60 {
			log.Fatalf("-n %q: want counts of at least 60", f)
		}
		row, err := measure(*bin, n, *workers)
		if err != nil {
			log.Fatalf("%d tenants: %v", n, err)
		}
		fmt.Println(row)
	}
	fmt.Println("\nA gateway whose tenants are all in the registry (second start):\n\n| registry tenants | ready | idle RSS |\n|---|---|---|")
	for _, row := range registryStarts {
		fmt.Println(row)
	}
}

// registryStarts are the rows of the second table, one per N.
var registryStarts []string

// gw is one tlsgate process.
type gw struct {
	cmd               *exec.Cmd
	addr, admin, nats string
	dataDir, config   string
	log               *os.File
}

func freeAddr() string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		log.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// layout is where the tenants are defined: "file" (all in tenants: of the
// configuration file) or "dir" (one document each in tenants_dir).
var layout string

func tenantDoc(i int, ttl string) string {
	return fmt.Sprintf("{name: t%d, server_names: [t%d.test], certificate: {self_signed: true}, upstream: builtin, session_ttl: %s, guest: {module: \"builtin:sessioncache\", fetch_deadline: 50ms}}", i, i, ttl)
}

// writeConfig writes the configuration of n tenants; only tenant 0 gets
// ttl0 as its session_ttl, so a second call with another ttl0 changes
// exactly one tenant.
func writeConfig(path string, n int, nats string, ttl0 string) error {
	var b strings.Builder
	fmt.Fprintf(&b, "sealing: {keys: [{id: k1, key: %q}]}\nregistry: {enabled: true}\n%s\n", sealingKey, nats)
	dir := path + ".d"
	if layout == "dir" {
		fmt.Fprintf(&b, "tenants_dir: %q\n", dir)
		if err := os.MkdirAll(dir, 0o700); err != nil {
			return err
		}
	} else {
		b.WriteString("tenants:\n")
	}
	for i := range n {
		ttl := "24h"
		if i == 0 {
			ttl = ttl0
		}
		switch {
		case layout == "file":
			fmt.Fprintf(&b, "  - %s\n", tenantDoc(i, ttl))
		case i == 0 || ttl0 == "24h": // the first write, or the one changed tenant
			if err := os.WriteFile(filepath.Join(dir, fmt.Sprintf("t%05d.yaml", i)), []byte(tenantDoc(i, ttl)+"\n"), 0o600); err != nil {
				return err
			}
		}
	}
	return os.WriteFile(path, []byte(b.String()), 0o600)
}

func start(bin string, g *gw) (time.Duration, error) {
	var err error
	if g.log, err = os.OpenFile(filepath.Join(g.dataDir, "..", filepath.Base(g.dataDir)+".log"), os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o600); err != nil {
		return 0, err
	}
	g.addr, g.admin = freeAddr(), freeAddr()
	g.cmd = exec.Command(bin, "serve", "--config", g.config, "--data-dir", g.dataDir, "--listen", g.addr, "--admin", g.admin, "--log-level", "info")
	g.cmd.Stdout, g.cmd.Stderr = g.log, g.log
	began := time.Now()
	if err := g.cmd.Start(); err != nil {
		return 0, err
	}
	exited := make(chan error, 1)
	go func() { exited <- g.cmd.Wait() }()
	for deadline := began.Add(10 * time.Minute); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		select {
		case err := <-exited:
			out, _ := os.ReadFile(g.log.Name())
			return 0, fmt.Errorf("tlsgate exited: %v; log:\n%s", err, out)
		default:
		}
		if resp, err := http.Get("http://" + g.admin + "/readyz"); err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				go func() { <-exited }()
				return time.Since(began), nil
			}
		}
	}
	return 0, errors.New("not ready in 10 minutes")
}

func (g *gw) stop() {
	g.cmd.Process.Signal(syscall.SIGTERM)
	for i := 0; i < 300 && g.cmd.ProcessState == nil; i++ {
		time.Sleep(100 * time.Millisecond)
	}
	g.log.Close()
}

func (g *gw) rss() string {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", g.cmd.Process.Pid))
	if err != nil {
		return "?"
	}
	for _, line := range strings.Split(string(b), "\n") {
		if f := strings.Fields(line); len(f) == 3 && f[0] == "VmRSS:" {
			kb, _ := strconv.Atoi(f[1])
			return fmt.Sprintf("%d MiB", kb/1024)
		}
	}
	return "?"
}

// logCount counts the lines of the gateway's log that contain s.
func (g *gw) logCount(s string) int {
	b, _ := os.ReadFile(g.log.Name())
	return strings.Count(string(b), s)
}

// client is TLS 1.3 with one session cache for every tenant.
type client struct{ cache tls.ClientSessionCache }

// visit handshakes with sni at addr and reads a GET's response (which also
// delivers the TLS 1.3 ticket).
func (c *client) visit(addr, sni string) (resumed bool, took time.Duration, err error) {
	began := time.Now()
	conn, err := tls.DialWithDialer(&net.Dialer{Timeout: 10 * time.Second}, "tcp", addr, &tls.Config{
		ServerName: sni, InsecureSkipVerify: true, MinVersion: tls.VersionTLS13, ClientSessionCache: c.cache})
	if err != nil {
		return false, 0, err
	}
	defer conn.Close()
	took = time.Since(began)
	conn.SetDeadline(time.Now().Add(10 * time.Second))
	fmt.Fprintf(conn, "GET / HTTP/1.1\r\nHost: %s\r\nConnection: close\r\n\r\n", sni)
	if _, err := io.Copy(io.Discard, bufio.NewReader(conn)); err != nil {
		return false, took, err
	}
	return conn.ConnectionState().DidResume, took, nil
}

// round visits tenants [0, n) with w workers; it returns how many resumed
// and how many failed.
func (c *client) round(addr string, n, w int) (resumed, failed int64) {
	var next atomic.Int64
	var wg sync.WaitGroup
	for range w {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := next.Add(1) - 1; i < int64(n); i = next.Add(1) - 1 {
				r, _, err := c.visit(addr, fmt.Sprintf("t%d.test", i))
				switch {
				case err != nil:
					atomic.AddInt64(&failed, 1)
				case r:
					atomic.AddInt64(&resumed, 1)
				}
			}
		}()
	}
	wg.Wait()
	return resumed, failed
}

// background visits tenants t10..t59 in turn (full handshakes) until stop
// is closed, and counts the connections that failed.
func background(addr string, stop <-chan struct{}) (failed *atomic.Int64, done *sync.WaitGroup) {
	failed, done = new(atomic.Int64), new(sync.WaitGroup)
	for w := range 2 {
		done.Add(1)
		go func() {
			defer done.Done()
			c := &client{}
			for i := w; i < 1_000_000; i++ {
				select {
				case <-stop:
					return
				default:
				}
				if _, _, err := c.visit(addr, fmt.Sprintf("t%d.test", 10+i%50)); err != nil {
					failed.Add(1)
				}
			}
		}()
	}
	return failed, done
}

func ms(d time.Duration) string { return fmt.Sprintf("%.0f ms", float64(d)/1e6) }

// waitServes polls until a handshake to sni at addr serves a certificate
// for which ok reports true, and returns when that was first seen.
func waitServes(addr, sni string, ok func(*tls.ConnectionState) bool) (time.Time, error) {
	for deadline := time.Now().Add(2 * time.Minute); time.Now().Before(deadline); time.Sleep(2 * time.Millisecond) {
		conn, err := tls.DialWithDialer(&net.Dialer{Timeout: 5 * time.Second}, "tcp", addr, &tls.Config{ServerName: sni, InsecureSkipVerify: true})
		if err != nil {
			continue
		}
		st := conn.ConnectionState()
		conn.Close()
		if ok(&st) {
			return time.Now(), nil
		}
	}
	return time.Time{}, fmt.Errorf("%s not served at %s in 2 minutes", sni, addr)
}

func measure(bin string, n, workers int) (string, error) {
	work, err := os.MkdirTemp("", "scalebench-")
	if err != nil {
		return "", err
	}
	defer os.RemoveAll(work)
	a := &gw{dataDir: filepath.Join(work, "a"), config: filepath.Join(work, "a.yaml"), nats: freeAddr()}
	os.Mkdir(a.dataDir, 0o700)
	natsA := fmt.Sprintf("nats: {storage: memory, embedded: {listen: %q}}", a.nats)
	if err := writeConfig(a.config, n, natsA, "24h"); err != nil {
		return "", err
	}
	if _, err := start(bin, a); err != nil { // generates the certificates
		return "", err
	}
	a.stop()
	ready, err := start(bin, a)
	if err != nil {
		return "", err
	}
	defer a.stop()
	idle := a.rss()

	// Cold: tenants never contacted since the start; warm: one tenant again.
	c := &client{}
	var cold, warm []time.Duration
	for i := range 20 {
		_, took, err := c.visit(a.addr, fmt.Sprintf("t%d.test", n-1-i*(n/40)))
		if err != nil {
			return "", fmt.Errorf("cold tenant: %w", err)
		}
		cold = append(cold, took)
		_, took, err = c.visit(a.addr, "t1.test")
		if err != nil {
			return "", err
		}
		warm = append(warm, took)
	}
	slices.Sort(cold)
	slices.Sort(warm)

	rc := &client{cache: tls.NewLRUClientSessionCache(n + 100)}
	if _, failed := rc.round(a.addr, n, workers); failed > 0 {
		return "", fmt.Errorf("first round: %d connections failed", failed)
	}
	time.Sleep(2 * time.Second) // the stores are asynchronous
	resumed1, failed := rc.round(a.addr, n, workers)
	if failed > 0 {
		return "", fmt.Errorf("resumption round: %d connections failed", failed)
	}
	afterRound := a.rss()
	time.Sleep(2 * time.Second)
	resumed2, failed := rc.round(a.addr, n, workers)
	if failed > 0 {
		return "", fmt.Errorf("second round: %d connections failed", failed)
	}

	// One tenant changed in the file, applied by SIGHUP, under load.
	if err := writeConfig(a.config, n, natsA, "23h"); err != nil {
		return "", err
	}
	reloads := a.logCount("configuration reloaded")
	stop := make(chan struct{})
	bgFailed, bg := background(a.addr, stop)
	time.Sleep(200 * time.Millisecond)
	sighup := time.Now()
	a.cmd.Process.Signal(syscall.SIGHUP)
	for a.logCount("configuration reloaded") == reloads && time.Since(sighup) < 5*time.Minute {
		time.Sleep(time.Millisecond)
	}
	fileApplied := time.Since(sighup)
	time.Sleep(200 * time.Millisecond)
	close(stop)
	bg.Wait()
	fileFailed := bgFailed.Load()

	// The registry: a deployer's client of gateway A's NATS.
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	dep, err := natskv.Connect(ctx, natskv.WithURL("nats://"+a.nats), natskv.WithNkeySeedFile(filepath.Join(a.dataDir, "nats-deployer.nk")))
	if err != nil {
		return "", err
	}
	defer dep.Close(ctx)
	for i := 0; !dep.Connected() && i < 500; i++ {
		time.Sleep(10 * time.Millisecond)
	}
	keys := []config.SealingKey{{ID: "k1", Key: sealingKey}}
	put := func(name string) (string, time.Time, error) { // the certificate's serial, and when it was written
		crt, key := filepath.Join(work, name+".crt"), filepath.Join(work, name+".key")
		if err := gateway.WriteSelfSigned(crt, key, []string{name + ".test"}, "ecdsa"); err != nil {
			return "", time.Time{}, err
		}
		doc := fmt.Sprintf("name: %s\nserver_names: [%s.test]\nupstream: builtin\ncertificate: {cert_file: %s, key_file: %s}\nguest: {module: \"builtin:sessioncache\"}\n", name, name, crt, key)
		rt, err := gateway.PrepareTenant(ctx, keys, dep, filepath.Join(work, name+".yaml"), []byte(doc))
		if err != nil {
			return "", time.Time{}, err
		}
		cert, err := tls.LoadX509KeyPair(crt, key)
		if err != nil {
			return "", time.Time{}, err
		}
		at := time.Now()
		return cert.Leaf.SerialNumber.String(), at, dep.PutTenant(ctx, rt.Name, rt.Doc, rt.Certificate)
	}
	servesSerial := func(serial string) func(*tls.ConnectionState) bool {
		return func(st *tls.ConnectionState) bool { return st.PeerCertificates[0].SerialNumber.String() == serial }
	}
	stop = make(chan struct{})
	bgFailed, bg = background(a.addr, stop)
	var regTimes []time.Duration
	for range 2 { // a new tenant, then a change of its certificate
		serial, began, err := put("reg0")
		if err != nil {
			return "", err
		}
		at, err := waitServes(a.addr, "reg0.test", servesSerial(serial))
		if err != nil {
			return "", err
		}
		regTimes = append(regTimes, at.Sub(began))
	}
	close(stop)
	bg.Wait()
	regFailed := bgFailed.Load()

	// A second gateway of the fleet, joined to A's NATS, registry only.
	b := &gw{dataDir: filepath.Join(work, "b"), config: filepath.Join(work, "b.yaml")}
	os.Mkdir(b.dataDir, 0o700)
	cfgB := fmt.Sprintf("sealing: {keys: [{id: k1, key: %q}]}\nregistry: {enabled: true}\nnats: {url: %q, nkey_file: %q}\n",
		sealingKey, "nats://"+a.nats, filepath.Join(a.dataDir, "nats-gateway.nk"))
	if err := os.WriteFile(b.config, []byte(cfgB), 0o600); err != nil {
		return "", err
	}
	if _, err := start(bin, b); err != nil {
		return "", err
	}
	defer b.stop()
	serial, began, err := put("reg1")
	if err != nil {
		return "", err
	}
	var atA, atB time.Time
	var errA, errB error
	var wg sync.WaitGroup
	wg.Add(2)
	go func() { defer wg.Done(); atA, errA = waitServes(a.addr, "reg1.test", servesSerial(serial)) }()
	go func() { defer wg.Done(); atB, errB = waitServes(b.addr, "reg1.test", servesSerial(serial)) }()
	wg.Wait()
	if err := errors.Join(errA, errB); err != nil {
		return "", err
	}

	// N tenants in the registry instead of the file: gateway B serves them
	// all, then starts again with them (certificates on disk).
	var next atomic.Int64
	var putErr atomic.Value
	var pw sync.WaitGroup
	for range 8 {
		pw.Add(1)
		go func() {
			defer pw.Done()
			for i := next.Add(1) - 1; i < int64(n); i = next.Add(1) - 1 {
				doc := fmt.Sprintf(`{"name":"r%d","server_names":["r%d.test"],"certificate":{"self_signed":true},"upstream":"builtin","guest":{"module":"builtin:sessioncache"}}`, i, i)
				if err := dep.PutTenant(ctx, fmt.Sprintf("r%d", i), []byte(doc), nil); err != nil {
					putErr.Store(err)
					return
				}
			}
		}()
	}
	pw.Wait()
	if err, _ := putErr.Load().(error); err != nil {
		return "", err
	}
	want := fmt.Sprintf("tenants: %d\n", n+2)
	for deadline := time.Now().Add(10 * time.Minute); ; time.Sleep(100 * time.Millisecond) {
		resp, err := http.Get("http://" + b.admin + "/readyz")
		if err == nil {
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if strings.Contains(string(body), want) {
				break
			}
		}
		if time.Now().After(deadline) {
			return "", fmt.Errorf("gateway B does not serve the %d registry tenants after 10 minutes", n)
		}
	}
	b.stop()
	regReady, err := start(bin, b)
	if err != nil {
		return "", err
	}
	regIdle := b.rss()
	if _, _, err := c.visit(b.addr, fmt.Sprintf("r%d.test", n-1)); err != nil {
		return "", fmt.Errorf("registry tenant after restart: %w", err)
	}
	registryStarts = append(registryStarts, fmt.Sprintf("| %d | %.1f s | %s |", n, regReady.Seconds(), regIdle))

	return fmt.Sprintf("| %d | %.1f s | %s | %s median, %s max (%s) | %s (%d%% resumed) | %.1f%% | %s (%d) | %s / %s (%d) | %s / %s |",
		n, ready.Seconds(), idle, ms(cold[len(cold)/2]), ms(cold[len(cold)-1]), ms(warm[len(warm)/2]),
		afterRound, resumed1*100/int64(n), float64(resumed2)*100/float64(n),
		ms(fileApplied), fileFailed, ms(regTimes[0]), ms(regTimes[1]), regFailed,
		ms(atA.Sub(began)), ms(atB.Sub(began))), nil
}
