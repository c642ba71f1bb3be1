package wasmhost

import (
	"errors"
	"fmt"
	"sync"
	"time"
)

// ErrSuspended is returned by Fetch (or Store), at once and without a guest
// call, while that export of the pool's guest is suspended: it faulted
// (trapped, timed out, ran out of memory, misused the ABI or failed to
// start) on several calls in a row. See WithFaultSuspension.
var ErrSuspended = errors.New("wasmhost: guest suspended after repeated faults")

// ErrCPUBudget is returned by Fetch and Store, at once and without a guest
// call, while the pool's guest has used up its CPU budget (WithCPUBudget).
var ErrCPUBudget = errors.New("wasmhost: guest CPU budget used up")

// overCPU returns ErrCPUBudget (wrapped) while the pool is over its CPU
// budget, logging it now and then.
func (p *Pool) overCPU(export string) error {
	if p.cpu == nil || p.cpu.Tokens() > 0 {
		return nil
	}
	p.cpuLog.Do(func() {
		p.logger.Warn("guest over its CPU budget: calls refused until it refills (logged at most every 10s)", "export", export)
	})
	return fmt.Errorf("wasmhost: tenant %q module %q: %s: %w", p.tenant, p.m.name, export, ErrCPUBudget)
}

// spendCPU charges a call's guest CPU to the pool's budget; the budget may
// go into debt, which later calls wait out.
func (p *Pool) spendCPU(d time.Duration) {
	if p.cpu == nil || d <= 0 {
		return
	}
	now, burst := time.Now(), p.cpu.Burst()
	for n := int(d / time.Microsecond); n > 0; n -= burst { // a reservation is at most one burst
		p.cpu.ReserveN(now, min(n, burst))
	}
}

// suspender is a pool's breaker on guest faults: threshold faulty calls in a
// row suspend the guest for a back-off (first, doubling on every repeated
// suspension up to max); after it, one call at a time runs as a probe, and
// the first that does not fault ends the suspension.
type suspender struct {
	threshold  int // 0: never suspend
	first, max time.Duration

	mu          sync.Mutex
	consecutive int
	until       time.Time // suspended before this; zero: not suspended
	backoff     time.Duration
	probing     bool
}

// admit reports whether a call may run now, and whether it is the probe.
func (s *suspender) admit(now time.Time) (ok, probe bool) {
	if s.threshold == 0 {
		return true, false
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	switch {
	case s.until.IsZero():
		return true, false
	case now.Before(s.until) || s.probing:
		return false, false
	}
	s.probing = true
	return true, true
}

// done records a call admit let through; it returns the length of a
// suspension the call started (0 for none).
func (s *suspender) done(fault, probe bool, now time.Time) time.Duration {
	if s.threshold == 0 {
		return 0
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if probe {
		s.probing = false
		if !fault {
			s.until, s.backoff, s.consecutive = time.Time{}, 0, 0
			return 0
		}
		s.backoff = min(2*s.backoff, s.max)
		s.until = now.Add(s.backoff)
		return s.backoff
	}
	if !s.until.IsZero() {
		return 0 // a call admitted before the suspension began
	}
	if !fault {
		s.consecutive = 0
		return 0
	}
	if s.consecutive++; s.consecutive < s.threshold {
		return 0
	}
	s.consecutive = 0
	s.backoff = s.first
	s.until = now.Add(s.backoff)
	return s.backoff
}

// skip records a call admit let through that never reached the guest: a
// probe gives its turn to the next call, and the count of faults in a row
// stands.
func (s *suspender) skip(probe bool) {
	if s.threshold == 0 || !probe {
		return
	}
	s.mu.Lock()
	s.probing = false
	s.mu.Unlock()
}

// isFault reports whether err from a call is the guest's fault.
func isFault(err error) bool {
	ge, ok := errors.AsType[*GuestError](err)
	if !ok {
		return false
	}
	switch ge.Kind {
	case FaultTrap, FaultTimeout, FaultMemory, FaultMisuse, FaultInit:
		return true
	}
	return false
}
