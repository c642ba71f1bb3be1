package gateway

import (
	"crypto/tls"
	"slices"
	"sync"
	"testing"
	"time"
)

// A guest that loops on every fetch, hammered by four clients, is suspended
// after a few timeouts, so the healthy tenant beside it keeps resuming.
func TestLoopingNeighbourIsSuspended(t *testing.T) {
	bad := cacheTenant("bad", "bad.test")
	bad.Guest.Module = faultGuest("loop_fetch")
	g := startGateway(t, testConfig(t, bad, cacheTenant("good", "good.test")))

	stop := make(chan struct{})
	var wg sync.WaitGroup
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			cache := tls.NewLRUClientSessionCache(1)
			for i := 0; i < 2000; i++ { // bounded; stopped once the healthy client is done
				select {
				case <-stop:
					return
				default:
				}
				tryDial(g.addr(), clientOpts{sni: "bad.test", version: tls.VersionTLS13, cache: cache})
			}
		}()
	}
	// The first few looping calls run before the breaker trips; measure
	// the steady state after it.
	deadline := time.Now().Add(30 * time.Second)
	for counterValue(t, g, "tlsgate_guest_suspensions_total", "tenant", "bad") < 1 {
		if time.Now().After(deadline) {
			t.Fatal("the looping guest was not suspended within 30s")
		}
		time.Sleep(10 * time.Millisecond)
	}
	const n = 100
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
	close(stop)
	wg.Wait()
	slices.Sort(lat)
	t.Logf("healthy tenant beside a looping guest: %d/%d resumed, resumption p50 %v p99 %v; bad tenant suspended %v times",
		resumed, n, lat[n/2], lat[n*99/100], counterValue(t, g, "tlsgate_guest_suspensions_total", "tenant", "bad"))
	if resumed < n*99/100 {
		t.Errorf("the healthy tenant resumed %d of %d sessions beside a looping guest, want at least 99%%", resumed, n)
	}
	if counterValue(t, g, "tlsgate_resumption_attempts_total", "result", "suspended") < 1 {
		t.Error("no resumption attempt was counted as suspended")
	}
}
