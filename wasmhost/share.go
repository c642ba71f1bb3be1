package wasmhost

import (
	"bytes"
	"context"
	"errors"
	"slices"
	"sync"
	"time"
)

// Share lets the pools of several tenants that run the same module with the
// same guest configuration draw on one set of idle instances, each call
// bound to the tenant whose pool checked the instance out (its inputs, its
// KV namespace, its budgets and breakers). Only a module that exports
// abi.ExportSharedInstances (the guest declares that it keeps nothing
// tenant-specific between calls) is shared; a pool of any other module
// given a Share ignores it. With sharing, 10,000 tenants of one guest need
// as many instances as they have calls at once, not one each: no
// instantiation on a quiet tenant's first resumption, and a few MiB in all.
//
// A tenant's concurrency stays bounded by its own WithMaxInstances; an
// instance that faults is closed, whoever's call it was. Close the Share
// after its pools.
type Share struct {
	m           *Module
	guestConfig []byte

	mu     sync.Mutex
	idle   []*instance // LIFO: top is the most recently used
	closed bool
}

// NewShare makes a Share for pools of m with guestConfig. A Share of a
// module that may not be shared (Module.SharedInstances is false) is still
// valid, and unused.
func NewShare(m *Module, guestConfig []byte) (*Share, error) {
	if m == nil {
		return nil, errors.New("wasmhost: NewShare: nil module")
	}
	s := &Share{m: m, guestConfig: bytes.Clone(guestConfig)}
	m.rt.reaper.addShare(s)
	return s, nil
}

// fits reports whether pool p (its module and guest config) may use s.
func (s *Share) fits(p *Pool) bool {
	return s != nil && s.m.shared && s.m == p.m && bytes.Equal(s.guestConfig, p.guestConfig)
}

// take pops the warmest idle instance, or nil.
func (s *Share) take() *instance {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := len(s.idle)
	if n == 0 {
		return nil
	}
	inst := s.idle[n-1]
	s.idle[n-1] = nil
	s.idle = s.idle[:n-1]
	s.m.rt.idle.drop(inst)
	return inst
}

// put makes inst idle in the share; false when the share is closed (the
// caller closes inst).
func (s *Share) put(inst *instance, now time.Time, idleTimeout time.Duration) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return false
	}
	inst.lastUsed = now
	inst.idleUntil = now.Add(idleTimeout)
	s.idle = append(s.idle, inst)
	s.m.rt.idle.pushShared(inst, s)
	return true
}

// evict closes e's instance if it is still idle in s since the LRU saw it.
func (s *Share) evict(e idleEntry) bool {
	inst := e.inst
	s.mu.Lock()
	i := slices.Index(s.idle, inst)
	if i < 0 || !e.idleSince() {
		s.mu.Unlock()
		return false
	}
	s.idle = slices.Delete(s.idle, i, i+1)
	s.m.rt.idle.drop(inst)
	s.mu.Unlock()
	inst.close()
	if p := inst.cs.pool; p != nil {
		p.obs.InstanceDiscarded(p.tenant, "evicted")
	}
	return true
}

// reapIdle closes instances idle longer than the idle timeout of the pool
// that returned each.
func (s *Share) reapIdle(now time.Time) {
	s.mu.Lock()
	var victims []*instance
	kept := s.idle[:0]
	for _, inst := range s.idle {
		if !now.Before(inst.idleUntil) {
			s.m.rt.idle.drop(inst)
			victims = append(victims, inst)
		} else {
			kept = append(kept, inst)
		}
	}
	clear(s.idle[len(kept):])
	s.idle = kept
	s.mu.Unlock()
	for _, inst := range victims {
		inst.close()
		if p := inst.cs.pool; p != nil {
			p.obs.InstanceDiscarded(p.tenant, "idle")
		}
	}
}

// Idle returns how many instances are idle in the share.
func (s *Share) Idle() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.idle)
}

// Close closes the idle instances; instances still in use by pools are
// closed when their calls end. Safe to call more than once.
func (s *Share) Close(ctx context.Context) error {
	s.mu.Lock()
	idle := s.idle
	s.idle, s.closed = nil, true
	for _, inst := range idle {
		s.m.rt.idle.drop(inst)
	}
	s.mu.Unlock()
	for _, inst := range idle {
		inst.close()
	}
	s.m.rt.reaper.removeShare(s)
	return nil
}
