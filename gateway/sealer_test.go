package gateway

import (
	"bytes"
	"crypto/rand"
	"errors"
	"testing"

	"github.com/tlsgate/tlsgate/gateway/config"
)

const otherKey = "ICEiIyQlJicoKSorLC0uLzAxMjM0NTY3ODk6Ozw9Pj8="

func TestIdentifiers(t *testing.T) {
	s, err := newSealer([]config.SealingKey{{ID: "k1", Key: testKey}})
	if err != nil {
		t.Fatal(err)
	}
	id := s.newIdentifier("a")
	random := make([]byte, ticketIDLen)
	rand.Read(random)
	rotated, _ := newSealer([]config.SealingKey{{ID: "k2", Key: otherKey}, {ID: "k1", Key: testKey}})
	retired, _ := newSealer([]config.SealingKey{{ID: "k2", Key: otherKey}})
	tests := []struct {
		name   string
		s      *sealer
		tenant string
		id     []byte
		want   bool
	}{
		{"issued for this tenant", s, "a", id, true},
		{"another tenant's", s, "b", id, false},
		{"made up", s, "a", random, false},
		{"one bit off", s, "a", append(append([]byte(nil), id[:31]...), id[31]^1), false},
		{"short", s, "a", id[:31], false},
		{"after rotation: old key still verifies", rotated, "a", id, true},
		{"key removed", retired, "a", id, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.s.issued(tt.tenant, tt.id); got != tt.want {
				t.Fatalf("issued = %v, want %v", got, tt.want)
			}
		})
	}
	if bytes.Equal(s.newIdentifier("a"), id) {
		t.Fatal("two identifiers are equal")
	}
}

func TestSealRoundTripAndBinding(t *testing.T) {
	s, _ := newSealer([]config.SealingKey{{ID: "k1", Key: testKey}})
	id := s.newIdentifier("a")
	blob := s.sealBlob([]byte("state"), purposeStored, "a", id)
	if got, err := s.openBlob(blob, purposeStored, "a", id); err != nil || string(got) != "state" {
		t.Fatalf("open: %q %v", got, err)
	}
	for name, open := range map[string]func() ([]byte, error){
		"other tenant":  func() ([]byte, error) { return s.openBlob(blob, purposeStored, "b", id) },
		"other id":      func() ([]byte, error) { return s.openBlob(blob, purposeStored, "a", s.newIdentifier("a")) },
		"other purpose": func() ([]byte, error) { return s.openBlob(blob, purposeStateless, "a", id) },
		"truncated":     func() ([]byte, error) { return s.openBlob(blob[:len(blob)-1], purposeStored, "a", id) },
	} {
		if _, err := open(); !errors.Is(err, ErrUnsealable) {
			t.Errorf("%s: err = %v, want ErrUnsealable", name, err)
		}
	}
}
