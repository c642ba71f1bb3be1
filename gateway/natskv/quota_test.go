package natskv

import (
	"testing"
	"time"
)

// A quota counts each write until it expires: full while the writes live,
// room again once they have expired, and a refunded write frees its room.
func TestQuotaCountsWritesUntilTheyExpire(t *testing.T) {
	q := newQuota(1000, 0, time.Minute)
	now := time.Unix(1_700_000_000, 0)
	for i := range 10 {
		if _, err := q.charge(now, time.Minute, 100); err != nil {
			t.Fatalf("write %d of 10: %v", i, err)
		}
	}
	if _, err := q.charge(now, time.Second, 1); err == nil {
		t.Fatal("the 11th write fits a full quota")
	}
	if _, err := q.charge(now.Add(59*time.Second), time.Minute, 100); err == nil {
		t.Fatal("a write fits before the first ones expired")
	}
	later := now.Add(time.Minute + 2*q.width)
	refund, err := q.charge(later, 30*time.Second, 1000)
	if err != nil {
		t.Fatalf("once the first writes expired, a write is refused: %v", err)
	}
	if _, err := q.charge(later, time.Second, 1); err == nil {
		t.Fatal("full again, yet a write fits")
	}
	refund()
	if _, err := q.charge(later, time.Second, 1); err != nil {
		t.Fatalf("after a refund: %v", err)
	}

	e := newQuota(0, 2, time.Hour)
	for range 2 {
		if _, err := e.charge(now, time.Hour, 1); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := e.charge(now, time.Hour, 1); err == nil {
		t.Fatal("a third entry fits a quota of 2")
	}
}
