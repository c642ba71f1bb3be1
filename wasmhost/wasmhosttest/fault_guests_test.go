package wasmhosttest

import (
	"errors"
	"fmt"
	"io/fs"
	"testing"

	"github.com/tlsgate/tlsgate/wasmhost"
)

// TestOutcomeCheck shows that TestHost tells a conforming result from a
// wrong one: a host that hid a fault as a miss, or reported the wrong kind,
// fails the kit.
func TestOutcomeCheck(t *testing.T) {
	trap := &wasmhost.GuestError{Kind: wasmhost.FaultTrap, Err: errors.New("unreachable")}
	wrapped := fmt.Errorf("gateway: %w", trap)
	for _, tc := range []struct {
		name string
		want outcome
		got  []byte
		err  error
		ok   bool
	}{
		{name: "trap reported as a trap", want: outcome{fault: wasmhost.FaultTrap}, err: trap, ok: true},
		{name: "wrapped trap", want: outcome{fault: wasmhost.FaultTrap}, err: wrapped, ok: true},
		{name: "trap hidden as a miss", want: outcome{fault: wasmhost.FaultTrap}, err: wasmhost.ErrMiss},
		{name: "trap of the wrong kind", want: outcome{fault: wasmhost.FaultMisuse}, err: trap},
		{name: "fault that still returned a session", want: outcome{fault: wasmhost.FaultTrap}, got: []byte("x"), err: trap},
		{name: "miss", want: outcome{miss: true}, err: wasmhost.ErrMiss, ok: true},
		{name: "miss expected, hit given", want: outcome{miss: true}, got: []byte("x")},
		{name: "hit of the right size", want: outcome{hit: 2}, got: []byte("ab"), ok: true},
		{name: "hit of the wrong size", want: outcome{hit: 2}, got: []byte("abc")},
		{name: "no export", want: outcome{noExport: true}, err: wasmhost.ErrNoExport, ok: true},
		{name: "no export expected, miss given", want: outcome{noExport: true}, err: wasmhost.ErrMiss},
		{name: "success", want: outcome{}, ok: true},
		{name: "success expected, fault given", want: outcome{}, err: trap},
	} {
		t.Run(tc.name, func(t *testing.T) {
			msg := tc.want.check(tc.got, tc.err)
			if (msg == "") != tc.ok {
				t.Errorf("check(%q, %v) against %s = %q, want ok=%v", tc.got, tc.err, tc.want, msg, tc.ok)
			}
		})
	}
}

// TestFaultGuestsExist keeps the table and testdata/ in step.
func TestFaultGuestsExist(t *testing.T) {
	for _, tc := range faultGuests {
		if b, err := fs.ReadFile(Guests(), tc.name+".wasm"); err != nil || len(b) == 0 {
			t.Errorf("guest %s: %d bytes, %v", tc.name, len(b), err)
		}
	}
}
