package guest_test

import (
	"errors"
	"fmt"
	"testing"

	"github.com/tlsgate/tlsgate/abi"
	guest "github.com/tlsgate/tlsgate/guests/sdk/go"
)

func TestStatusErrors(t *testing.T) {
	tests := []struct {
		name       string
		err        error
		is         error
		wantStatus abi.Status
		wantText   string
	}{
		{name: "not found from an operation", err: &guest.StatusError{Op: "kv get", Status: abi.StatusNotFound},
			is: guest.ErrNotFound, wantStatus: abi.StatusNotFound, wantText: "guest: kv get: NOT_FOUND"},
		{name: "wrapped exists", err: fmt.Errorf("storing: %w", &guest.StatusError{Op: "kv create", Status: abi.StatusExists}),
			is: guest.ErrExists, wantStatus: abi.StatusExists, wantText: "storing: guest: kv create: EXISTS"},
		{name: "sentinel itself", err: guest.ErrUnavailable, is: guest.ErrUnavailable,
			wantStatus: abi.StatusUnavailable, wantText: "guest: UNAVAILABLE"},
		{name: "foreign error", err: errors.New("boom"), wantStatus: abi.StatusInternal, wantText: "boom"},
		{name: "nil", err: nil, wantStatus: abi.StatusOK},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := guest.StatusOf(tt.err); got != tt.wantStatus {
				t.Errorf("StatusOf = %v, want %v", got, tt.wantStatus)
			}
			if tt.err != nil && tt.err.Error() != tt.wantText {
				t.Errorf("Error() = %q, want %q", tt.err.Error(), tt.wantText)
			}
			if tt.is != nil && !errors.Is(tt.err, tt.is) {
				t.Errorf("errors.Is(%v, %v) = false", tt.err, tt.is)
			}
			if errors.Is(tt.err, guest.ErrBadHandle) {
				t.Errorf("errors.Is(%v, ErrBadHandle) = true", tt.err)
			}
		})
	}
}
