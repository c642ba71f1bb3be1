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
	seen    map[string]bool                // the names of the last full delivery, until applied
	refused map[string]natskv.TenantChange // documents refused, tried again after the next change
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
	w := &registryWatch{g: g, pending: map[string]natskv.TenantChange{}, refused: map[string]natskv.TenantChange{},
		wake: make(chan struct{}, 1), synced: make(chan struct{})}
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

// doneSyncing: the watch has delivered the whole registry. A tenant it did
// not deliver was removed while no watch ran: whether it is served, queued
// or being applied now, the next apply removes it (see applyRegistry).
func (w *registryWatch) doneSyncing() {
	w.mu.Lock()
	if w.syncing {
		w.syncing = false
		w.seen, w.initial = w.initial, nil
		for name := range w.pending {
			if !w.seen[name] {
				w.pending[name] = natskv.TenantChange{Name: name, Deleted: true}
			}
		}
		for name := range w.refused {
			if !w.seen[name] {
				delete(w.refused, name)
			}
		}
	}
	w.mu.Unlock()
	w.poke()
}

// retryRefused tries the refused documents again (a file reload may have
// freed the names they wanted).
func (w *registryWatch) retryRefused(refused map[string]natskv.TenantChange) {
	w.mu.Lock()
	for name, c := range refused {
		if _, newer := w.pending[name]; !newer {
			w.refused[name] = c
		}
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
// closes. The documents refused before are tried again with each batch:
// a change may have freed the name they wanted.
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
		batch, seen, retry := w.pending, w.seen, w.refused
		w.pending, w.seen, w.refused = map[string]natskv.TenantChange{}, nil, map[string]natskv.TenantChange{}
		first := !w.isSynced()
		w.mu.Unlock()
		tries := map[string]bool{}
		for name, c := range retry {
			if _, newer := batch[name]; !newer {
				batch[name], tries[name] = c, true
			}
		}
		if len(batch) > 0 || seen != nil {
			// Certificates are loaded on first use; a change to a tenant
			// already known is checked now, so a bad one is refused while
			// the old version serves.
			refused := w.g.applyRegistry(w.g.ctx, batch, seen, tries, !first)
			w.mu.Lock()
			for name, c := range refused {
				if _, newer := w.pending[name]; !newer {
					w.refused[name] = c
				}
			}
			w.mu.Unlock()
		}
		if first {
			w.syncedOnce.Do(func() { close(w.synced) })
		}
	}
}

// applyRegistry applies registry changes as one new snapshot that shares
// every other tenant with the one serving: removals first, then documents,
// again and again while one of them makes room for another (a tenant that
// gives up a server name and one that takes it, in one batch). With seen
// (the names of a full delivery of the registry), a served tenant not among
// them is removed too. A document that does not parse, clashes with another
// tenant, or does not build (its guest, or with checkCerts its certificate)
// is refused and returned (to be tried again), logged and counted unless
// it was a retry (tries), and that tenant's version in force, if any, keeps
// serving.
func (g *Gateway) applyRegistry(ctx context.Context, batch map[string]natskv.TenantChange, seen, tries map[string]bool, checkCerts bool) map[string]natskv.TenantChange {
	g.reloadMu.Lock()
	defer g.reloadMu.Unlock()
	start := time.Now()
	old := g.snap.Load()
	s := newSnapshot(old.cfg, old.seal)
	for _, t := range old.tenants {
		s.add(t, false)
	}
	var removed int
	remove := func(name string) {
		if cur := s.reg[name]; cur != nil {
			s.remove(ctx, cur)
			removed++
			g.log.Info("registry tenant removed", "tenant", name)
		}
	}
	if seen != nil {
		for name := range old.reg {
			if _, put := batch[name]; !seen[name] && !put {
				remove(name)
			}
		}
	}
	var puts []natskv.TenantChange
	for _, name := range slices.Sorted(maps.Keys(batch)) {
		switch c := batch[name]; {
		case c.Deleted || (seen != nil && !seen[name]):
			remove(name)
		case s.reg[name] != nil && bytes.Equal(s.reg[name].doc, c.Doc):
			// the same document again (a watch set up anew)
		default:
			puts = append(puts, c)
		}
	}
	sources := moduleSources{}
	applied := 0
	refused := map[string]natskv.TenantChange{}
	reasons := map[string]error{}
	for progress := true; progress && len(puts) > 0; {
		progress = false
		var again []natskv.TenantChange
		for _, c := range puts {
			cur := s.reg[c.Name]
			t, err := g.buildRegistryTenant(ctx, s, c.Name, c.Doc, cur, sources, checkCerts)
			if err != nil {
				again, reasons[c.Name] = append(again, c), err
				continue
			}
			if cur != nil {
				s.remove(ctx, cur)
			}
			s.add(t, true)
			applied, progress = applied+1, true
		}
		puts = again
	}
	for _, c := range puts {
		refused[c.Name] = c
		if tries[c.Name] {
			g.log.Debug("registry tenant still refused", "tenant", c.Name, "err", reasons[c.Name])
			continue
		}
		g.metrics.registry.WithLabelValues("refused").Inc()
		g.log.Warn("registry tenant refused; its previous version, if any, keeps serving", "tenant", c.Name,
			"revision", c.Revision, "err", reasons[c.Name])
	}
	g.metrics.registry.WithLabelValues("applied").Add(float64(applied))
	g.metrics.registry.WithLabelValues("removed").Add(float64(removed))
	if applied+removed == 0 {
		if m := g.acmeNow(); m != nil {
			m.commit(old) // a refused document's ACME configuration is stopped
		}
		return refused // nothing to swap in
	}
	s.keepHellos(old) // only now: a batch that changes nothing drops s without closing it
	s.finish()
	g.snap.Store(s)
	g.seriesFor(old, s)
	g.guests.ensure(s)
	if m := g.acmeNow(); m != nil {
		m.commit(s) // removed or changed registry tenants' certificates are no longer renewed
	}
	g.log.Info("tenant registry applied", "applied", applied, "removed", removed, "refused", len(refused),
		"tenants", len(s.list), "took", time.Since(start).Round(time.Microsecond))
	g.retire(ctx, old)
	return refused
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
