package gateway

import (
	"log/slog"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/tlsgate/tlsgate/wasmhost"
)

// A full queue drops its oldest store for the new one, and a store that
// waited past max_age is dropped as stale when its turn comes: after an
// outage the workers store the newest sessions first.
func TestStoreQueueDropsOldestAndStale(t *testing.T) {
	m := newMetrics()
	hold, held := make(chan struct{}), make(chan struct{})
	first := true
	q := newStoreQueue(2, 2, 1, 50*time.Millisecond, func(string) *tenant {
		if first { // the first job holds the only worker
			first = false
			close(held)
			<-hold
		}
		return nil
	}, m, slog.New(slog.DiscardHandler))
	job := func(id byte) pendingStore {
		p := pendingStore{tenant: "a", in: wasmhost.StoreInput{SessionID: []byte{id}}}
		q.register(p)
		return p
	}
	q.enqueue(job(0))
	<-held
	for id := byte(1); id <= 3; id++ { // room for 2: job 1 is dropped for job 3
		if !q.enqueue(job(id)) {
			t.Fatalf("enqueue %d refused", id)
		}
	}
	if q.storing("a", []byte{1}) != nil {
		t.Error("the oldest queued store was not dropped for the newest")
	}
	for _, id := range []byte{2, 3} {
		if q.storing("a", []byte{id}) == nil {
			t.Errorf("store %d was dropped, want it queued", id)
		}
	}
	time.Sleep(60 * time.Millisecond) // jobs 2 and 3 are now stale
	close(hold)
	deadline := time.Now().Add(30 * time.Second)
	for !q.idle() && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
	if got := testCounter(t, m, "tlsgate_session_stores_total", "result", "stale"); got != 2 {
		t.Errorf("stale stores = %v, want 2", got)
	}
	if got := testCounter(t, m, "tlsgate_session_stores_total", "result", "dropped"); got != 2 {
		t.Errorf("dropped stores = %v, want 2 (one for room, one with no tenant)", got)
	}
}

func testCounter(t *testing.T, m *metrics, metric, name, value string) float64 {
	t.Helper()
	return counterValue(t, &Gateway{metrics: m}, metric, name, value)
}

// One tenant's pile-up drops only its own stores, and workers serve the
// tenants in turn: a neighbour's stores are neither dropped nor kept behind
// the pile.
func TestStoreQueueIsFairBetweenTenants(t *testing.T) {
	m := newMetrics()
	hold, held := make(chan struct{}), make(chan struct{})
	var mu sync.Mutex
	var order []string
	first := true
	q := newStoreQueue(16, 4, 1, time.Minute, func(name string) *tenant {
		mu.Lock()
		order = append(order, name)
		block := first
		first = false
		mu.Unlock()
		if block {
			close(held)
			<-hold
		}
		return nil
	}, m, slog.New(slog.DiscardHandler))
	n := byte(0)
	job := func(tenant string) pendingStore {
		n++
		p := pendingStore{tenant: tenant, in: wasmhost.StoreInput{SessionID: []byte{n}}}
		q.register(p)
		return p
	}
	q.enqueue(job("hog"))
	<-held
	for range 50 {
		q.enqueue(job("hog"))
	}
	web := []pendingStore{job("web"), job("web")}
	for _, p := range web {
		q.enqueue(p)
	}
	for range 10 {
		q.enqueue(job("hog"))
	}
	for _, p := range web {
		if q.storing("web", p.in.SessionID) == nil {
			t.Fatalf("the neighbour's store %v was dropped by the hog's pile-up", p.in.SessionID)
		}
	}
	close(hold)
	deadline := time.Now().Add(30 * time.Second)
	for !q.idle() && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
	mu.Lock()
	defer mu.Unlock()
	want := []string{"hog", "hog", "web", "hog", "web", "hog", "hog"}
	if !slices.Equal(order, want) {
		t.Errorf("stores ran in the order %v, want %v (the first, then tenants in turn, the hog holding its share of 4)", order, want)
	}
	if got := testCounter(t, m, "tlsgate_session_stores_total", "result", "dropped"); got != 60-4+7 {
		// 56 dropped for room, plus the 7 that ran and found no tenant
		t.Errorf("dropped = %v, want %d", got, 60-4+7)
	}
}
