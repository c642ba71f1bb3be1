package wasmhost_test

import (
	"context"
	"errors"
	"testing"

	"github.com/tlsgate/tlsgate/abi"
	"github.com/tlsgate/tlsgate/wasmhost"
)

// helloEcho is a client-hello guest led by its guest configuration's first
// byte: 0 goes on with no route; 0xFF refuses (ACCESS_DENIED); 0xFE
// returns BAD_ARGUMENT; 0xFD traps; any other byte is an input kind, read
// and named as the route (so a test sees the input's bytes), its status
// returned if it has none.
const helloEcho = `(module
  (import "tlsgate" "input" (func $input (param i32 i32 i32) (result i32)))
  (import "tlsgate" "set_route" (func $set_route (param i32 i32) (result i32)))
  (memory (export "memory") 1)
  (func (export "tlsgate_abi_v1"))
  (func (export "tlsgate_on_client_hello") (result i32)
    (local $k i32) (local $n i32) (local $s i32)
    (drop (call $input (i32.const 9) (i32.const 0) (i32.const 16)))
    (local.set $k (i32.load8_u (i32.const 0)))
    (if (i32.eqz (local.get $k)) (then (return (i32.const 0))))
    (if (i32.eq (local.get $k) (i32.const 0xFF)) (then (return (i32.const 6))))
    (if (i32.eq (local.get $k) (i32.const 0xFE)) (then (return (i32.const 2))))
    (if (i32.eq (local.get $k) (i32.const 0xFD)) (then (unreachable)))
    (local.set $n (call $input (local.get $k) (i32.const 100) (i32.const 64)))
    (if (i32.lt_s (local.get $n) (i32.const 0)) (then (return (i32.sub (i32.const 0) (local.get $n)))))
    (local.set $s (call $set_route (i32.const 100) (local.get $n)))
    (if (local.get $s) (then (return (local.get $s))))
    (i32.const 0)))`

func TestClientHello(t *testing.T) {
	rt := newRuntime(t)
	m := compileBytes(t, rt, "hello.wasm", compileWAT(t, helloEcho))
	if m.HasFetch() || m.HasStore() || !m.Has(abi.CallClientHello) {
		t.Fatal("the module's hooks are not what it exports")
	}
	in := wasmhost.ClientHelloInput{
		ServerName:        "shop.test",
		ClientAddr:        "192.0.2.7:41000",
		ALPN:              []string{"h2", "http/1.1"},
		SupportedVersions: []uint16{0x2a2a, 0x0304, 0x0303},
		CipherSuites:      []uint16{0x1301, 0xc02b},
		SupportedGroups:   []uint16{0x11ec, 0x001d},
		SignatureSchemes:  []uint16{0x0403},
		Extensions:        []uint16{0x0000, 0x0010, 0x002b},
		JA4:               "t13d0203h2_aaaaaaaaaaaa_bbbbbbbbbbbb",
	}
	tests := []struct {
		name     string
		config   byte
		want     wasmhost.HelloDecision
		wantKind wasmhost.FaultKind
		status   abi.Status
	}{
		{name: "OK without a route: route by SNI", config: 0},
		{name: "ACCESS_DENIED refuses", config: 0xFF, want: wasmhost.HelloDecision{Refuse: true}},
		{name: "another status is a guest error", config: 0xFE, wantKind: wasmhost.FaultStatus, status: abi.StatusBadArgument},
		{name: "a trap is a guest error", config: 0xFD, wantKind: wasmhost.FaultTrap},
		{name: "SERVER_NAME", config: byte(abi.InputServerName), want: wasmhost.HelloDecision{Route: "shop.test"}},
		{name: "CLIENT_ADDR", config: byte(abi.InputClientAddr), want: wasmhost.HelloDecision{Route: "192.0.2.7:41000"}},
		{name: "ALPN_OFFERED: length-prefixed", config: byte(abi.InputALPNOffered), want: wasmhost.HelloDecision{Route: "\x02h2\x08http/1.1"}},
		{name: "SUPPORTED_VERSIONS: u16 little-endian, GREASE kept", config: byte(abi.InputSupportedVersions), want: wasmhost.HelloDecision{Route: "\x2a\x2a\x04\x03\x03\x03"}},
		{name: "CIPHER_SUITES", config: byte(abi.InputCipherSuites), want: wasmhost.HelloDecision{Route: "\x01\x13\x2b\xc0"}},
		{name: "SUPPORTED_GROUPS", config: byte(abi.InputSupportedGroups), want: wasmhost.HelloDecision{Route: "\xec\x11\x1d\x00"}},
		{name: "SIGNATURE_SCHEMES", config: byte(abi.InputSignatureSchemes), want: wasmhost.HelloDecision{Route: "\x03\x04"}},
		{name: "EXTENSIONS", config: byte(abi.InputExtensions), want: wasmhost.HelloDecision{Route: "\x00\x00\x10\x00\x2b\x00"}},
		{name: "JA4", config: byte(abi.InputJA4), want: wasmhost.HelloDecision{Route: "t13d0203h2_aaaaaaaaaaaa_bbbbbbbbbbbb"}},
		{name: "no TENANT before a tenant is chosen", config: byte(abi.InputTenant), wantKind: wasmhost.FaultStatus, status: abi.StatusNotFound},
		{name: "no session inputs", config: byte(abi.InputSessionID), wantKind: wasmhost.FaultStatus, status: abi.StatusNotFound},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := newPool(t, m, wasmhost.WithGuestConfig([]byte{tt.config}), wasmhost.WithMaxInstances(1))
			got, err := p.ClientHello(context.Background(), in)
			if tt.wantKind != "" {
				ge := guestErr(t, err, tt.wantKind)
				if tt.status != 0 && ge.Status != tt.status {
					t.Fatalf("status %v, want %v", ge.Status, tt.status)
				}
				if got != (wasmhost.HelloDecision{}) {
					t.Fatalf("decision %+v after a guest error, want none", got)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got != tt.want {
				t.Fatalf("decision %+v, want %+v", got, tt.want)
			}
		})
	}
}

// set_route belongs to the client-hello hook: elsewhere it is BAD_ARGUMENT,
// and a name past 64 bytes is LIMIT_EXCEEDED.
func TestSetRouteOutsideClientHello(t *testing.T) {
	const src = `(module
	  (import "tlsgate" "set_route" (func $set_route (param i32 i32) (result i32)))
	  (memory (export "memory") 1)
	  (func (export "tlsgate_abi_v1"))
	  (func (export "tlsgate_on_session_fetch") (result i32) (call $set_route (i32.const 0) (i32.const 4)))
	  (func (export "tlsgate_on_client_hello") (result i32) (call $set_route (i32.const 0) (i32.const 65))))`
	rt := newRuntime(t)
	p := newPool(t, compileBytes(t, rt, "route.wasm", compileWAT(t, src)), wasmhost.WithMaxInstances(1))
	_, err := p.Fetch(context.Background(), fetchInput(0))
	if ge := guestErr(t, err, wasmhost.FaultStatus); ge.Status != abi.StatusBadArgument {
		t.Errorf("set_route in a fetch: %v, want BAD_ARGUMENT", ge.Status)
	}
	_, err = p.ClientHello(context.Background(), wasmhost.ClientHelloInput{})
	if ge := guestErr(t, err, wasmhost.FaultStatus); ge.Status != abi.StatusLimitExceeded {
		t.Errorf("set_route of 65 bytes: %v, want LIMIT_EXCEEDED", ge.Status)
	}
	if err := p.Store(context.Background(), wasmhost.StoreInput{SessionID: []byte{1}}); !errors.Is(err, wasmhost.ErrNoExport) {
		t.Errorf("Store on a guest without the store hook: %v, want ErrNoExport", err)
	}
}
