package wasmhost_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/tlsgate/tlsgate/abi"
	"github.com/tlsgate/tlsgate/wasmhost"
)

// certEcho is a certificate guest led by its guest configuration's first
// byte, like helloEcho: 0 names none; 0xFF refuses; 0xFE returns
// BAD_ARGUMENT; 0xFD traps; 0xFC calls set_certificate with 65 bytes and
// returns its status; any other byte is an input kind, read and named as
// the certificate.
const certEcho = `(module
  (import "tlsgate" "input" (func $input (param i32 i32 i32) (result i32)))
  (import "tlsgate" "set_certificate" (func $set (param i32 i32) (result i32)))
  (memory (export "memory") 1)
  (func (export "tlsgate_abi_v1"))
  (func (export "tlsgate_on_certificate") (result i32)
    (local $k i32) (local $n i32)
    (drop (call $input (i32.const 9) (i32.const 0) (i32.const 16)))
    (local.set $k (i32.load8_u (i32.const 0)))
    (if (i32.eqz (local.get $k)) (then (return (i32.const 0))))
    (if (i32.eq (local.get $k) (i32.const 0xFF)) (then (return (i32.const 6))))
    (if (i32.eq (local.get $k) (i32.const 0xFE)) (then (return (i32.const 2))))
    (if (i32.eq (local.get $k) (i32.const 0xFD)) (then (unreachable)))
    (if (i32.eq (local.get $k) (i32.const 0xFC)) (then (return (call $set (i32.const 100) (i32.const 65)))))
    (local.set $n (call $input (local.get $k) (i32.const 100) (i32.const 64)))
    (if (i32.lt_s (local.get $n) (i32.const 0)) (then (return (i32.sub (i32.const 0) (local.get $n)))))
    (call $set (i32.const 100) (local.get $n))))`

func TestCertificate(t *testing.T) {
	rt := newRuntime(t)
	m := compileBytes(t, rt, "cert.wasm", compileWAT(t, certEcho))
	if m.HasFetch() || m.HasStore() || !m.Has(abi.CallCertificate) {
		t.Fatal("the module's hooks are not what it exports")
	}
	certs, err := wasmhost.EncodeCertificates([]wasmhost.CertificateInfo{{Name: "default", Key: abi.KeyECDSA}, {Name: "rsa", Key: abi.KeyRSA}})
	if err != nil {
		t.Fatal(err)
	}
	in := wasmhost.CertificateInput{Certificates: certs, Hello: wasmhost.ClientHelloInput{
		ServerName: "shop.test", ClientAddr: "192.0.2.7:41000", SignatureSchemes: []uint16{0x0403, 0x0804}, JA4: "t13d_x_y"}}
	tests := []struct {
		name     string
		config   byte
		want     wasmhost.CertificateDecision
		wantKind wasmhost.FaultKind
		status   abi.Status
	}{
		{name: "OK naming none: the host chooses", config: 0},
		{name: "ACCESS_DENIED refuses", config: 0xFF, want: wasmhost.CertificateDecision{Refuse: true}},
		{name: "another status is a guest error", config: 0xFE, wantKind: wasmhost.FaultStatus, status: abi.StatusBadArgument},
		{name: "a trap is a guest error", config: 0xFD, wantKind: wasmhost.FaultTrap},
		{name: "a name past 64 bytes", config: 0xFC, wantKind: wasmhost.FaultStatus, status: abi.StatusLimitExceeded},
		{name: "CERTIFICATES: length, name, key type", config: byte(abi.InputCertificates), want: wasmhost.CertificateDecision{Name: "\x07default\x01\x03rsa\x02"}},
		{name: "TENANT", config: byte(abi.InputTenant), want: wasmhost.CertificateDecision{Name: "shop"}},
		{name: "SERVER_NAME", config: byte(abi.InputServerName), want: wasmhost.CertificateDecision{Name: "shop.test"}},
		{name: "SIGNATURE_SCHEMES", config: byte(abi.InputSignatureSchemes), want: wasmhost.CertificateDecision{Name: "\x03\x04\x04\x08"}},
		{name: "JA4", config: byte(abi.InputJA4), want: wasmhost.CertificateDecision{Name: "t13d_x_y"}},
		{name: "no session inputs", config: byte(abi.InputSessionID), wantKind: wasmhost.FaultStatus, status: abi.StatusNotFound},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := newPool(t, m, wasmhost.WithTenant("shop"), wasmhost.WithGuestConfig([]byte{tt.config}), wasmhost.WithMaxInstances(1))
			got, err := p.Certificate(context.Background(), in)
			if tt.wantKind != "" {
				ge := guestErr(t, err, tt.wantKind)
				if tt.status != 0 && ge.Status != tt.status {
					t.Fatalf("status %v, want %v", ge.Status, tt.status)
				}
				if got != (wasmhost.CertificateDecision{}) {
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
	// Inputs past their bounds are refused before the guest runs.
	p := newPool(t, m, wasmhost.WithMaxInstances(1))
	big := in
	big.Certificates = make([]byte, abi.MaxInputLen+1)
	if _, err := p.Certificate(context.Background(), big); !errors.Is(err, wasmhost.ErrInputTooLarge) {
		t.Errorf("a certificates input of %d bytes: %v, want ErrInputTooLarge", len(big.Certificates), err)
	}
	if _, err := wasmhost.EncodeCertificates([]wasmhost.CertificateInfo{{Name: strings.Repeat("c", 65)}}); !errors.Is(err, wasmhost.ErrInputTooLarge) {
		t.Errorf("a certificate name of 65 bytes encoded: %v", err)
	}
	if _, err := wasmhost.EncodeCertificates(make([]wasmhost.CertificateInfo, abi.MaxCertificates+1)); !errors.Is(err, wasmhost.ErrInputTooLarge) {
		t.Errorf("%d certificates encoded: %v", abi.MaxCertificates+1, err)
	}
}
