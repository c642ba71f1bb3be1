package wasmhost

import (
	"container/list"
	"sync"
)

// idleLRU orders the idle instances of every pool of a runtime by when
// they were last returned, so that an instance the memory budget has no
// room for can take the place of the one idle longest, whichever tenant's
// it is: ten thousand tenants then share the budget, the busy ones warm,
// instead of the first few hundred holding it until their idle timeout.
// Lock order: a pool's mu, then the LRU's.
type idleLRU struct {
	mu sync.Mutex
	l  list.List // of *instance, front: idle longest
}

// push adds inst, just made idle in its pool (under the pool's mu).
func (u *idleLRU) push(inst *instance) { u.pushShared(inst, nil) }

// pushShared adds inst, just made idle in share s (nil: in its pool).
func (u *idleLRU) pushShared(inst *instance, s *Share) {
	u.mu.Lock()
	inst.lru, inst.idleIn = u.l.PushBack(inst), s
	u.mu.Unlock()
}

// drop removes inst, no longer idle (under its pool's mu).
func (u *idleLRU) drop(inst *instance) {
	u.mu.Lock()
	if inst.lru != nil {
		u.l.Remove(inst.lru)
		inst.lru = nil
	}
	u.mu.Unlock()
}

// oldest returns the instance idle longest, and the share it is idle in
// (nil: its pool), or nil.
func (u *idleLRU) oldest() (*instance, *Share) {
	u.mu.Lock()
	defer u.mu.Unlock()
	if e := u.l.Front(); e != nil {
		inst := e.Value.(*instance)
		return inst, inst.idleIn
	}
	return nil, nil
}

// evictIdle closes the instance idle longest across the runtime's pools,
// giving its memory back to the budget. It reports false when there was
// none.
func (r *Runtime) evictIdle() bool {
	for range 8 { // the oldest may be taken meanwhile: try the next
		inst, share := r.idle.oldest()
		switch {
		case inst == nil:
			return false
		case share != nil && share.evict(inst):
			return true
		case share == nil && inst.cs.pool.evict(inst):
			return true
		}
	}
	return false
}
