package gateway

import (
	"bytes"
	"context"
	"errors"
	"maps"
	"slices"
	"sync"
	"time"

	"github.com/tlsgate/tlsgate/gateway/config"
	"github.com/tlsgate/tlsgate/gateway/natskv"
)

// registryWatch follows the tenant registry in NATS (registry.enabled) and
// applies its changes: the whole registry once the watch has delivered it
// (at start, and after a watch had to be set up again), then each change,
// a burst of them at a time.
type registryWatch struct {
	g *Gateway

	mu      sync.Mutex
	pending map[string]natskv.TenantChange // newest change of each name not applied yet
	initial map[string]bool                // names the watch delivered before it was synced
	syncing bool                           // the watch has not delivered the whole registry yet
	wake    chan struct{}

	synced     chan struct{} // closed once the registry was applied once
	syncedOnce sync.Once
}

// Registry tuning.
const (
	// registryRetry is how often the watch is set up again after it could
	// not be (no registry yet, NATS down) or ended.
	registryRetry = time.Second
	// registryStartWait bounds how long New waits for the registry before
	// serving without it; it then joins as soon as NATS answers.
	registryStartWait = 30 * time.Second
	// certCheckTimeout bounds loading a changed tenant's certificate.
	certCheckTimeout = 5 * time.Second
)

func (g *Gateway) startRegistry() {
	w := &registryWatch{g: g, pending: map[string]natskv.TenantChange{}, wake: make(chan struct{}, 1), synced: make(chan struct{})}
	g.registry = w
	g.retiring.Add(2)
	go func() { defer g.retiring.Done(); w.watch() }()
	go func() { defer g.retiring.Done(); w.apply() }()
}

// Synced reports whether the registry has been applied at least once.
func (w *registryWatch) isSynced() bool {
	select {
	case <-w.synced:
		return true
	default:
		return false
	}
}

func (w *registryWatch) watch() {
	g := w.g
	quiet := false // log a failure to set the watch up once, not every second
	// Until the first tenant is put there is no bucket to watch; its
	// creation is announced, so the first put applies at once.
	created, stop, err := g.kv.RegistryCreated()
	if err != nil {
		g.log.Warn("cannot subscribe to JetStream advisories; polling for the tenant registry", "err", err)
	} else {
		defer stop()
	}
	for g.ctx.Err() == nil {
		w.mu.Lock()
		w.syncing, w.initial = true, map[string]bool{}
		w.mu.Unlock()
		ended, err := g.kv.WatchTenants(g.ctx, w.changed, w.doneSyncing)
		switch {
		case errors.Is(err, natskv.ErrTenantNotFound): // nothing was ever put: the registry is empty
			w.doneSyncing()
			select {
			case <-g.ctx.Done():
				return
			case <-created:
				continue
			case <-time.After(10 * registryRetry):
				continue
			}
		case err != nil && !quiet:
			g.log.Warn("cannot watch the tenant registry yet; retrying", "err", err)
			quiet = true
		case err == nil:
			quiet = false
			select {
			case <-ended:
				if g.ctx.Err() == nil {
					g.log.Warn("the tenant registry watch ended; setting it up again")
				}
			case <-g.ctx.Done():
			}
		}
		select {
		case <-g.ctx.Done():
			return
		case <-time.After(registryRetry):
		}
	}
}

// changed queues one change from the watch.
func (w *registryWatch) changed(c natskv.TenantChange) {
	w.mu.Lock()
	w.pending[c.Name] = c
	if w.syncing {
		w.initial[c.Name] = !c.Deleted
	}
	syncing := w.syncing
	w.mu.Unlock()
	if !syncing {
		w.poke()
	}
}

// doneSyncing: the watch has delivered the whole registry. A tenant being
// served that it did not deliver was removed while no watch ran.
func (w *registryWatch) doneSyncing() {
	w.mu.Lock()
	if w.syncing {
		w.syncing = false
		for name := range w.g.snap.Load().reg {
			if _, seen := w.initial[name]; !seen {
				if _, queued := w.pending[name]; !queued {
					w.pending[name] = natskv.TenantChange{Name: name, Deleted: true}
				}
			}
		}
		w.initial = nil
	}
	w.mu.Unlock()
	w.poke()
}

func (w *registryWatch) poke() {
	select {
	case w.wake <- struct{}{}:
	default:
	}
}

// apply applies what is pending, a batch at a time, until the gateway
// closes.
func (w *registryWatch) apply() {
	for {
		select {
		case <-w.g.ctx.Done():
			return
		case <-w.wake:
		}
		w.mu.Lock()
		if w.syncing && !w.isSynced() {
			w.mu.Unlock()
			continue // the first sync is applied whole
		}
		batch := w.pending
		w.pending = map[string]natskv.TenantChange{}
		first := !w.isSynced()
		w.mu.Unlock()
		if len(batch) > 0 {
			// Certificates are loaded on first use; a change to a tenant
			// already known is checked now, so a bad one is refused while
			// the old version serves.
			w.g.applyRegistry(w.g.ctx, batch, !first)
		}
		if first {
			w.syncedOnce.Do(func() { close(w.synced) })
		}
	}
}

// applyRegistry applies registry changes as one new snapshot that shares
// every other tenant with the one serving. A document that does not parse,
// clashes with another tenant, or does not build (its guest, or with
// checkCerts its certificate) is refused, logged and counted, and that
// tenant's version in force, if any, keeps serving.
func (g *Gateway) applyRegistry(ctx context.Context, batch map[string]natskv.TenantChange, checkCerts bool) {
	g.reloadMu.Lock()
	defer g.reloadMu.Unlock()
	start := time.Now()
	old := g.snap.Load()
	s := newSnapshot(old.cfg, old.seal)
	for _, t := range old.tenants {
		s.add(t, false)
	}
	sources := moduleSources{}
	var applied, removed, refused int
	for _, name := range slices.Sorted(maps.Keys(batch)) {
		c := batch[name]
		cur := s.reg[name]
		if c.Deleted {
			if cur != nil {
				s.remove(ctx, cur)
				removed++
				g.log.Info("registry tenant removed", "tenant", name)
			}
			continue
		}
		if cur != nil && bytes.Equal(cur.doc, c.Doc) {
			continue // the same document again (a watch set up anew)
		}
		t, err := g.buildRegistryTenant(ctx, s, name, c.Doc, cur, sources, checkCerts)
		if err != nil {
			refused++
			g.log.Warn("registry tenant refused; its previous version, if any, keeps serving", "tenant", name, "revision", c.Revision, "err", err)
			continue
		}
		if cur != nil {
			s.remove(ctx, cur)
		}
		s.add(t, true)
		applied++
	}
	g.metrics.registry.WithLabelValues("applied").Add(float64(applied))
	g.metrics.registry.WithLabelValues("removed").Add(float64(removed))
	g.metrics.registry.WithLabelValues("refused").Add(float64(refused))
	if applied+removed == 0 {
		s.fresh = nil // nothing to swap in; nothing was built
		return
	}
	s.finish()
	g.snap.Store(s)
	g.guests.ensure(s)
	g.log.Info("tenant registry applied", "applied", applied, "removed", removed, "refused", refused,
		"tenants", len(s.list), "took", time.Since(start).Round(time.Microsecond))
	g.retire(ctx, old)
}

// buildRegistryTenant builds one registry tenant from its document beside
// the snapshot s being made, reusing cur (its version in force) where it
// can.
func (g *Gateway) buildRegistryTenant(ctx context.Context, s *snapshot, name string, doc []byte, cur *tenant, sources moduleSources, checkCert bool) (*tenant, error) {
	path := registryPath(name)
	tc, err := config.ParseTenantStored(path, doc)
	if err != nil {
		return nil, err
	}
	if tc.Name != name {
		return nil, errors.New("gateway: " + path + ".name: " + tc.Name + " is not the key it is stored under")
	}
	if err := s.clash(tc); err != nil {
		return nil, err
	}
	t, err := g.buildTenant(ctx, s.cfg, tc, path, cur, sources)
	if err == nil && checkCert && t.regCert != nil && (cur == nil || cur.regCert != t.regCert) {
		cctx, cancel := context.WithTimeout(ctx, certCheckTimeout)
		_, err = t.regCert.get(cctx, g.kv, s.seal, g.metrics, g.log)
		cancel()
	}
	if err != nil {
		if t != nil && t.guest != nil {
			_ = t.guest.release(context.WithoutCancel(ctx))
		}
		return nil, err
	}
	t.doc = doc
	return t, nil
}
