package wasmhost

import (
	"testing"
	"time"
)

func TestSuspender(t *testing.T) {
	s := suspender{threshold: 2, first: time.Second, max: 3 * time.Second}
	t0 := time.Unix(1000, 0)
	at := func(d time.Duration) time.Time { return t0.Add(d) }
	steps := []struct {
		name      string
		now       time.Duration
		fault     bool
		wantAdmit bool
		wantProbe bool
		wantFor   time.Duration // suspension started by this call
	}{
		{name: "fault 1", now: 0, fault: true, wantAdmit: true},
		{name: "success resets", now: 0, wantAdmit: true},
		{name: "fault 1 again", now: 0, fault: true, wantAdmit: true},
		{name: "fault 2 suspends", now: 0, fault: true, wantAdmit: true, wantFor: time.Second},
		{name: "suspended", now: 500 * time.Millisecond},
		{name: "probe faults: doubled", now: 1100 * time.Millisecond, fault: true, wantAdmit: true, wantProbe: true, wantFor: 2 * time.Second},
		{name: "still suspended", now: 3 * time.Second},
		{name: "probe faults: capped", now: 3200 * time.Millisecond, fault: true, wantAdmit: true, wantProbe: true, wantFor: 3 * time.Second},
		{name: "probe succeeds", now: 6300 * time.Millisecond, wantAdmit: true, wantProbe: true},
		{name: "closed again", now: 6300 * time.Millisecond, wantAdmit: true},
	}
	for _, st := range steps {
		ok, probe := s.admit(at(st.now))
		if ok != st.wantAdmit || probe != st.wantProbe {
			t.Fatalf("%s: admit = %v, probe %v; want %v, %v", st.name, ok, probe, st.wantAdmit, st.wantProbe)
		}
		if !ok {
			continue
		}
		if d := s.done(st.fault, probe, at(st.now)); d != st.wantFor {
			t.Fatalf("%s: suspended for %v, want %v", st.name, d, st.wantFor)
		}
	}
	// While a probe runs, no other call is admitted.
	s2 := suspender{threshold: 1, first: time.Second, max: time.Second}
	s2.admit(t0)
	s2.done(true, false, t0)
	if ok, probe := s2.admit(at(2 * time.Second)); !ok || !probe {
		t.Fatal("no probe after the back-off")
	}
	if ok, _ := s2.admit(at(2 * time.Second)); ok {
		t.Fatal("a second call admitted while the probe runs")
	}
}

// Calls that never reach the guest (no instance before the deadline, the
// memory budget spent) neither count as faults nor clear the faults before
// them; a skipped probe hands its turn to the next call.
func TestSuspenderSkip(t *testing.T) {
	t0 := time.Unix(1000, 0)
	s := suspender{threshold: 2, first: time.Second, max: time.Second}
	s.admit(t0)
	s.done(true, false, t0)
	s.admit(t0)
	s.skip(false)
	s.admit(t0)
	if d := s.done(true, false, t0); d != time.Second {
		t.Fatalf("two faults with a skipped call between them: suspended for %v, want 1s", d)
	}
	later := t0.Add(2 * time.Second)
	if ok, probe := s.admit(later); !ok || !probe {
		t.Fatal("no probe after the back-off")
	}
	s.skip(true)
	if ok, probe := s.admit(later); !ok || !probe {
		t.Fatal("after a skipped probe, the next call is not the probe")
	}
}
