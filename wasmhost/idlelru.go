package wasmhost

import "sync"

// idleLRU orders the idle instances of every pool and share of a runtime by
// when they were last returned, so that an instance the budget has no room
// for can take the place of the one idle longest, whichever tenant's it is:
// ten thousand tenants then share the budget, the busy ones warm, instead
// of the first few hundred holding it until their idle timeout. It also
// sums what the idle instances hold, so a new instance evicts only when
// evicting can make room. Lock order: a pool's or share's mu, then the
// LRU's.
type idleLRU struct {
	mu         sync.Mutex
	head, tail *instance // head: idle longest
	n          int
	bytes      int64  // memory accounted to the idle instances
	gen        uint64 // counts pushes, so an eviction can tell a re-idled instance
}

// idleLink is an instance's place in the LRU while it is idle: intrusive,
// so that returning an instance costs no allocation. Its fields change
// under the LRU's mu; all but prev and next (which a neighbour's add or
// drop rewrites) also only under the mu of the instance's pool or share,
// so that lock is enough to read in, gen and the owner.
type idleLink struct {
	prev, next *instance
	in         bool
	pool       *Pool  // where it waits: its pool,
	share      *Share // or a share
	bytes      int64
	gen        uint64
}

// idleEntry is what oldest saw of the instance idle longest.
type idleEntry struct {
	inst  *instance
	pool  *Pool
	share *Share
	gen   uint64
}

// push adds inst, just made idle in pool p (under p.mu).
func (u *idleLRU) push(inst *instance, p *Pool) { u.add(inst, p, nil) }

// pushShared adds inst, just made idle in share s (under s.mu).
func (u *idleLRU) pushShared(inst *instance, s *Share) { u.add(inst, nil, s) }

func (u *idleLRU) add(inst *instance, p *Pool, s *Share) {
	u.mu.Lock()
	u.gen++
	l := &inst.lru
	*l = idleLink{prev: u.tail, in: true, pool: p, share: s, bytes: inst.accounted, gen: u.gen}
	if u.tail != nil {
		u.tail.lru.next = inst
	} else {
		u.head = inst
	}
	u.tail = inst
	u.n++
	u.bytes += l.bytes
	u.mu.Unlock()
}

// drop removes inst, no longer idle (under the mu of its pool or share).
func (u *idleLRU) drop(inst *instance) {
	u.mu.Lock()
	if l := &inst.lru; l.in {
		if l.prev != nil {
			l.prev.lru.next = l.next
		} else {
			u.head = l.next
		}
		if l.next != nil {
			l.next.lru.prev = l.prev
		} else {
			u.tail = l.prev
		}
		u.n--
		u.bytes -= l.bytes
		*l = idleLink{}
	}
	u.mu.Unlock()
}

// oldest returns what it sees of the instance idle longest (to check, when
// evicting, that it is still idle since then), and false when none is.
func (u *idleLRU) oldest() (idleEntry, bool) {
	u.mu.Lock()
	defer u.mu.Unlock()
	inst := u.head
	if inst == nil {
		return idleEntry{}, false
	}
	return idleEntry{inst: inst, pool: inst.lru.pool, share: inst.lru.share, gen: inst.lru.gen}, true
}

// idleSince reports whether inst is still idle since e was seen (under the
// mu of its pool or share).
func (e idleEntry) idleSince() bool { return e.inst.lru.in && e.inst.lru.gen == e.gen }

// idle returns how many instances are idle and the memory they hold.
func (u *idleLRU) idle() (n int, bytes int64) {
	u.mu.Lock()
	defer u.mu.Unlock()
	return u.n, u.bytes
}

// maxEvictTries bounds evictIdle's retries when the instance idle longest
// is taken before it can be evicted.
const maxEvictTries = 64

// evictIdle closes the instance idle longest across the runtime's pools and
// shares, giving its memory back to the budget. It reports false when there
// was none.
func (r *Runtime) evictIdle() bool {
	for range maxEvictTries {
		e, ok := r.idle.oldest()
		switch {
		case !ok:
			return false
		case e.share != nil && e.share.evict(e):
			return true
		case e.pool != nil && e.pool.evict(e):
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
