//go:build !wasip1

package guest_test

import (
	"errors"
	"testing"

	"github.com/tlsgate/tlsgate/abi"
	guest "github.com/tlsgate/tlsgate/guests/sdk/go"
)

// Outside wasip1 there is no host: the SDK builds and reports UNIMPLEMENTED.
func TestHostFunctionsOutsideWasm(t *testing.T) {
	if _, err := guest.KV.Get([]byte("k")); !errors.Is(err, guest.ErrUnimplemented) {
		t.Errorf("KV.Get error = %v, want ErrUnimplemented", err)
	}
	if _, err := guest.Input(abi.InputTenant); !errors.Is(err, guest.ErrUnimplemented) {
		t.Errorf("Input error = %v, want ErrUnimplemented", err)
	}
	if got := guest.Tenant(); got != "" {
		t.Errorf("Tenant() = %q, want empty", got)
	}
}
