package wasmhost

import (
	"errors"
	"runtime/debug"
	"sync"
	"sync/atomic"
	"time"
)

// ErrMemoryBudget is returned by Fetch and Store when no new instance may
// start because the runtime's guests together hold their whole memory
// budget (WithMemoryBudget). It is not the guest's fault: it does not count
// towards suspension.
var ErrMemoryBudget = errors.New("wasmhost: guest memory budget exhausted")

// Reclaim tuning: retired instances' memory is garbage until the Go GC runs,
// and the GC hands it back to the system lazily. A guest that grows to its
// cap on every call (then is retired) could otherwise pile up gigabytes.
const (
	reclaimAfterBytes = 128 << 20 // freed since the last reclaim
	reclaimInterval   = time.Second
)

// memoryBudget accounts the linear memory of live instances, and their
// number.
type memoryBudget struct {
	limit int64 // 0: no limit
	used  atomic.Int64

	maxInstances int64 // 0: no limit
	instances    atomic.Int64

	mu          sync.Mutex
	freed       int64
	lastReclaim time.Time
	reclaiming  bool
}

// take accounts a new instance of size bytes, or refuses it past either
// limit.
func (b *memoryBudget) take(inst *instance, size int64) bool {
	if n := b.instances.Add(1); b.maxInstances > 0 && n > b.maxInstances {
		b.instances.Add(-1)
		return false
	}
	if n := b.used.Add(size); b.limit > 0 && n > b.limit {
		b.used.Add(-size)
		b.instances.Add(-1)
		return false
	}
	inst.accounted, inst.counted = size, true
	return true
}

// grew accounts an instance's size after a call; it reports false when the
// total is past the limit (the instance should be retired).
func (b *memoryBudget) grew(inst *instance, size int64) bool {
	n := b.used.Add(size - inst.accounted)
	inst.accounted = size
	return b.limit == 0 || n <= b.limit
}

// give returns a closed instance's memory to the budget, and hands freed
// memory (size bytes: what the instance had grown to, which for one retired
// mid-call is more than was accounted) back to the system once enough has
// piled up.
func (b *memoryBudget) give(inst *instance, size int64) {
	b.used.Add(-inst.accounted)
	if inst.counted {
		b.instances.Add(-1)
	}
	inst.accounted, inst.counted = 0, false
	if size == 0 {
		return
	}
	b.mu.Lock()
	b.freed += size
	now := time.Now()
	run := b.freed >= reclaimAfterBytes && now.Sub(b.lastReclaim) >= reclaimInterval && !b.reclaiming
	if run {
		b.freed, b.lastReclaim, b.reclaiming = 0, now, true
	}
	b.mu.Unlock()
	if run {
		go func() {
			debug.FreeOSMemory()
			b.mu.Lock()
			b.reclaiming = false
			b.mu.Unlock()
		}()
	}
}

// GuestMemory returns the bytes of linear memory the runtime's live
// instances hold together (what WithMemoryBudget bounds).
func (r *Runtime) GuestMemory() uint64 { return uint64(max(r.mem.used.Load(), 0)) }
