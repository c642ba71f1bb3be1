package gateway

import (
	"crypto/tls"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// A guest that faults on every fetch (loops, or grows its memory to the
// cap), hammered by four clients, is suspended after a few faults, so the
// healthy tenant beside it keeps resuming, and guest memory stays within
// the runtime's budget.
//
// A guest that is merely slow (burn_fetch spins a few milliseconds and
// misses) is no fault: its CPU budget stops it instead.
func TestFaultyNeighbourIsSuspended(t *testing.T) {
	tests := []struct {
		guest, module string
		metric        string // what shows the neighbour was stopped
		label, value  string
	}{
		{"loop_fetch", faultGuest("loop_fetch"), "tlsgate_guest_suspensions_total", "tenant", "bad"},
		{"grow_memory", faultGuest("grow_memory"), "tlsgate_guest_suspensions_total", "tenant", "bad"},
		{"burn_fetch", watGuest(t, "burn_fetch"), "tlsgate_resumption_attempts_total", "result", "cpu_budget"},
	}
	for _, tt := range tests {
		t.Run(tt.guest, func(t *testing.T) {
			stopped := func(g *Gateway) bool { return counterValue(t, g, tt.metric, tt.label, tt.value) >= 1 }
			testFaultyNeighbour(t, tt.guest, tt.module, stopped)
		})
	}
}

func testFaultyNeighbour(t *testing.T, guest, module string, stopped func(*Gateway) bool) {
	bad := cacheTenant("bad", "bad.test")
	bad.Guest.Module = module
	good := cacheTenant("good", "good.test")
	// The test measures what the neighbour does to the healthy tenant, not
	// what a busy CI machine does to a 50 ms deadline.
	good.Guest.FetchDeadline = 250 * time.Millisecond
	cfg := testConfig(t, bad, good, cacheTenant("calm", "calm.test"))
	cfg.Wasm.MemoryBudgetMB = 256
	g := startGateway(t, cfg)
	budget := uint64(cfg.Wasm.MemoryBudgetMB) << 20
	const n = 100
	var peak atomic.Uint64
	stopSampling, sampled := make(chan struct{}), make(chan struct{})
	go func() { // guest memory, every millisecond, while the test runs
		defer close(sampled)
		for {
			select {
			case <-stopSampling:
				return
			case <-time.After(time.Millisecond):
			}
			if m := g.rt.GuestMemory(); m > peak.Load() {
				peak.Store(m)
			}
		}
	}()

	// The same load against a tenant with a sound guest first: the healthy
	// tenant's figures then are what the load alone costs it.
	stopCalm := hammer(g, "calm.test")
	_, alone := resumeRound(t, g, n)
	stopCalm()
	stopBad := hammer(g, "bad.test")
	// The first few faulty calls run before the neighbour is stopped;
	// measure the steady state after it.
	deadline := time.Now().Add(30 * time.Second)
	for !stopped(g) {
		if time.Now().After(deadline) {
			t.Fatalf("the %s guest was not stopped within 30s", guest)
		}
		time.Sleep(10 * time.Millisecond)
	}
	resumed, lat := resumeRound(t, g, n)
	stopBad()
	close(stopSampling)
	<-sampled
	t.Logf("healthy tenant beside %s: %d/%d resumed, resumption p50 %v p99 %v (beside a sound guest under the same load: p50 %v p99 %v); bad tenant suspended %v times; guest memory peak %d MiB of %d",
		guest, resumed, n, lat[n/2], lat[n*99/100], alone[n/2], alone[n*99/100],
		counterValue(t, g, "tlsgate_guest_suspensions_total", "tenant", "bad"), peak.Load()>>20, budget>>20)
	if peak.Load() > budget {
		t.Errorf("guest memory reached %d bytes, over the budget of %d", peak.Load(), budget)
	}
	if resumed < n*99/100 {
		t.Errorf("the healthy tenant resumed %d of %d sessions beside %s, want at least 99%%", resumed, n, guest)
	}
}

// resumeRound makes n sessions with the healthy tenant, one at a time, and
// resumes each: how many resumed, and the resumptions' latencies, sorted.
func resumeRound(t *testing.T, g *Gateway, n int) (int, []time.Duration) {
	t.Helper()
	resumed := 0
	var lat []time.Duration
	for i := range n {
		o := clientOpts{sni: "good.test", version: tls.VersionTLS12, cache: tls.NewLRUClientSessionCache(1)}
		dial(t, g.addr(), o)
		g.waitStores(t)
		t0 := time.Now()
		if v := dial(t, g.addr(), o); v.state.DidResume {
			resumed++
		} else {
			t.Logf("healthy resumption %d went full", i)
		}
		lat = append(lat, time.Since(t0))
	}
	slices.Sort(lat)
	return resumed, lat
}

// hammer runs four clients resuming sessions with the tenant of sni, bounded
// in count, until the returned function is called.
func hammer(g *Gateway, sni string) (stop func()) {
	done := make(chan struct{})
	var wg sync.WaitGroup
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			cache := tls.NewLRUClientSessionCache(1)
			for i := 0; i < 2000; i++ {
				select {
				case <-done:
					return
				default:
				}
				tryDial(g.addr(), clientOpts{sni: sni, version: tls.VersionTLS13, cache: cache})
			}
		}()
	}
	return func() { close(done); wg.Wait() }
}
