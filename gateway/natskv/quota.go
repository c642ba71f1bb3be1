package natskv

import (
	"fmt"
	"sync"
	"time"
)

// quotaSlots is how many expiry slots a quota keeps: a write is counted
// until the end of the slot its expiry falls in, so it is counted at most
// ttl/quotaSlots longer than it lives.
const quotaSlots = 32

// quota counts what one tenant has written to the shared bucket and not
// yet seen expire: each write is charged to the slot of its expiry time
// (slots of ttl/quotaSlots), and a slot whose time has passed counts
// nothing. It costs the same for any number of keys: quotaSlots counters.
type quota struct {
	maxBytes, maxEntries int64 // 0: no limit
	width                time.Duration

	mu    sync.Mutex
	slots [quotaSlots + 1]quotaSlot // +1: expiries span quotaSlots+1 slot times
}

type quotaSlot struct {
	end            int64 // slot time (unix time / width) whose end this slot counts to
	bytes, entries int64
}

func newQuota(maxBytes, maxEntries int64, ttl time.Duration) *quota {
	return &quota{maxBytes: maxBytes, maxEntries: maxEntries, width: max(ttl/quotaSlots, time.Second)}
}

// charge counts a write of size bytes that lives for ttl from now, unless
// it would take the tenant past its quota. refund takes the charge back.
func (q *quota) charge(now time.Time, ttl time.Duration, size int64) (refund func(), err error) {
	nowSlot := now.UnixNano() / int64(q.width)
	end := (now.Add(ttl).UnixNano() + int64(q.width) - 1) / int64(q.width)
	q.mu.Lock()
	defer q.mu.Unlock()
	var bytes, entries int64
	for i := range q.slots {
		if s := &q.slots[i]; s.end >= nowSlot {
			bytes += s.bytes
			entries += s.entries
		}
	}
	switch {
	case q.maxBytes > 0 && bytes+size > q.maxBytes:
		return nil, fmt.Errorf("quota of %d bytes reached (%d held)", q.maxBytes, bytes)
	case q.maxEntries > 0 && entries+1 > q.maxEntries:
		return nil, fmt.Errorf("quota of %d entries reached", q.maxEntries)
	}
	s := &q.slots[end%int64(len(q.slots))]
	if s.end < nowSlot { // expired: reuse
		*s = quotaSlot{end: end}
	}
	// A live slot of another time (a shorter TTL's) keeps counting until
	// the later of the two ends: more, never less.
	s.end = max(s.end, end)
	s.bytes += size
	s.entries++
	charged := s.end
	return func() {
		q.mu.Lock()
		defer q.mu.Unlock()
		if s.end == charged { // not expired and reused since
			s.bytes -= size
			s.entries--
		}
	}, nil
}
