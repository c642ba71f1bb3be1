package wasmhost

import (
	"container/list"
	"sync"
)

// idleLRU orders the idle instances of every pool and share of a runtime by
// when they were last returned, so that an instance the budget has no room
// for can take the place of the one idle longest, whichever tenant's it is:
// ten thousand tenants then share the budget, the busy ones warm, instead
// of the first few hundred holding it until their idle timeout. It also
// sums what the idle instances hold, so a new instance evicts only when
// evicting can make room. Lock order: a pool's or share's mu, then the
// LRU's.
type idleLRU struct {
	mu    sync.Mutex
	l     list.List // of *idleEntry, front: idle longest
	bytes int64     // memory accounted to the idle instances
}

// idleEntry is where an idle instance waits: its pool, or a share.
type idleEntry struct {
	inst  *instance
	pool  *Pool
	share *Share
	bytes int64
}

// push adds inst, just made idle in pool p (under p.mu).
func (u *idleLRU) push(inst *instance, p *Pool) { u.add(&idleEntry{inst: inst, pool: p}) }

// pushShared adds inst, just made idle in share s (under s.mu).
func (u *idleLRU) pushShared(inst *instance, s *Share) { u.add(&idleEntry{inst: inst, share: s}) }

func (u *idleLRU) add(e *idleEntry) {
	u.mu.Lock()
	e.bytes = e.inst.accounted
	u.bytes += e.bytes
	e.inst.lru = u.l.PushBack(e)
	u.mu.Unlock()
}

// drop removes inst, no longer idle (under the mu of its pool or share).
func (u *idleLRU) drop(inst *instance) {
	u.mu.Lock()
	if inst.lru != nil {
		u.bytes -= inst.lru.Value.(*idleEntry).bytes
		u.l.Remove(inst.lru)
		inst.lru = nil
	}
	u.mu.Unlock()
}

// oldest returns the entry of the instance idle longest, with its element
// (to check it is still that one when evicting), or nil.
func (u *idleLRU) oldest() (*idleEntry, *list.Element) {
	u.mu.Lock()
	defer u.mu.Unlock()
	if e := u.l.Front(); e != nil {
		return e.Value.(*idleEntry), e
	}
	return nil, nil
}

// idle returns how many instances are idle and the memory they hold.
func (u *idleLRU) idle() (n int, bytes int64) {
	u.mu.Lock()
	defer u.mu.Unlock()
	return u.l.Len(), u.bytes
}

// maxEvictTries bounds evictIdle's retries when the instance idle longest
// is taken before it can be evicted.
const maxEvictTries = 64

// evictIdle closes the instance idle longest across the runtime's pools and
// shares, giving its memory back to the budget. It reports false when there
// was none.
func (r *Runtime) evictIdle() bool {
	for range maxEvictTries {
		e, elem := r.idle.oldest()
		switch {
		case e == nil:
			return false
		case e.share != nil && e.share.evict(e.inst, elem):
			return true
		case e.pool != nil && e.pool.evict(e.inst, elem):
			return true
		}
	}
	return false
}

// roomAfterEviction reports whether closing every idle instance would let
// a new instance of size bytes fit the budgets: if not, evicting would only
// throw warm instances away.
func (r *Runtime) roomAfterEviction(size int64) bool {
	n, bytes := r.idle.idle()
	b := &r.mem
	if b.limit > 0 && b.used.Load()-bytes+size > b.limit {
		return false
	}
	return b.maxInstances == 0 || b.instances.Load()-int64(n)+1 <= b.maxInstances
}
