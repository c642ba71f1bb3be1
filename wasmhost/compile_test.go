package wasmhost_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"strings"
	"testing"

	"github.com/tlsgate/tlsgate/wasmhost"
)

// guestWAT wraps module fields with the parts a valid guest needs unless
// they are given: memory, marker, fetch hook.
func guestWAT(fields string, parts ...string) string {
	has := func(s string) bool { return strings.Contains(fields, s) }
	var b strings.Builder
	b.WriteString("(module\n" + fields + "\n")
	for _, p := range parts {
		switch {
		case p == "memory" && !has("(memory"):
			b.WriteString(`(memory (export "memory") 1)` + "\n")
		case p == "marker":
			b.WriteString(`(func (export "tlsgate_abi_v1"))` + "\n")
		case p == "fetch":
			b.WriteString(`(func (export "tlsgate_on_session_fetch") (result i32) (i32.const 1))` + "\n")
		}
	}
	b.WriteString(")")
	return b.String()
}

// TestCompileValidation checks that Compile refuses modules that break ABI
// v1, naming the module and the problem, and accepts valid ones.
func TestCompileValidation(t *testing.T) {
	all := []string{"memory", "marker", "fetch"}
	tests := []struct {
		name    string
		wat     string
		wantErr string // substring of the error; "" means valid
	}{
		{name: "minimal fetch guest", wat: guestWAT("", all...)},
		{name: "store only guest", wat: guestWAT(`(func (export "tlsgate_on_session_store") (result i32) (i32.const 0))`, "memory", "marker")},
		{name: "WASI and host imports with exact signatures", wat: guestWAT(`
			(import "wasi_snapshot_preview1" "random_get" (func (param i32 i32) (result i32)))
			(import "wasi_snapshot_preview1" "clock_time_get" (func (param i32 i64 i32) (result i32)))
			(import "tlsgate" "kv_put" (func (param i32 i32 i32 i32 i64) (result i32)))
			(func (export "_initialize"))
			(func (export "tlsgate_on_init") (result i32) (i32.const 0))`, all...)},
		{name: "missing marker", wat: guestWAT("", "memory", "fetch"),
			wantErr: `wasmhost: module "x.wasm": does not export "tlsgate_abi_v1" (the ABI v1 marker)`},
		{name: "marker with a parameter", wat: guestWAT(`(func (export "tlsgate_abi_v1") (param i32))`, "memory", "fetch"),
			wantErr: `exports "tlsgate_abi_v1" with signature (i32) -> (), want () -> ()`},
		{name: "neither hook", wat: guestWAT("", "memory", "marker"),
			wantErr: `exports none of the hooks ["tlsgate_on_session_fetch" "tlsgate_on_session_store" "tlsgate_on_client_hello" "tlsgate_on_certificate" "tlsgate_on_upstream_session_fetch" "tlsgate_on_upstream_session_store"]`},
		{name: "fetch with the wrong result", wat: guestWAT(`(func (export "tlsgate_on_session_fetch") (result i64) (i64.const 1))`, "memory", "marker"),
			wantErr: `exports "tlsgate_on_session_fetch" with signature () -> (i64), want () -> (i32)`},
		{name: "store with a parameter", wat: guestWAT(`(func (export "tlsgate_on_session_store") (param i32) (result i32) (i32.const 0))`, all...),
			wantErr: `exports "tlsgate_on_session_store" with signature (i32) -> (i32), want () -> (i32)`},
		{name: "on_init without a result", wat: guestWAT(`(func (export "tlsgate_on_init"))`, all...),
			wantErr: `exports "tlsgate_on_init" with signature () -> (), want () -> (i32)`},
		{name: "_initialize with a result", wat: guestWAT(`(func (export "_initialize") (result i32) (i32.const 0))`, all...),
			wantErr: `exports "_initialize" with signature () -> (i32), want () -> ()`},
		{name: "no exported memory", wat: guestWAT(`(memory 1)`, "marker", "fetch"),
			wantErr: `does not export its memory as "memory"`},
		{name: "unknown import module", wat: guestWAT(`(import "env" "foo" (func))`, all...),
			wantErr: `wasmhost: module "x.wasm": imports unknown function "env"."foo"`},
		{name: "unknown host function", wat: guestWAT(`(import "tlsgate" "open_socket" (func (result i32)))`, all...),
			wantErr: `imports unknown function "tlsgate"."open_socket"`},
		{name: "host function with the wrong signature", wat: guestWAT(`(import "tlsgate" "input" (func (param i32 i32) (result i32)))`, all...),
			wantErr: `imports "tlsgate"."input" with signature (i32, i32) -> (i32), want (i32, i32, i32) -> (i32)`},
		{name: "WASI function with the wrong signature", wat: guestWAT(`(import "wasi_snapshot_preview1" "random_get" (func (param i32) (result i32)))`, all...),
			wantErr: `imports "wasi_snapshot_preview1"."random_get" with signature (i32) -> (i32), want (i32, i32) -> (i32)`},
		{name: "unknown WASI function", wat: guestWAT(`(import "wasi_snapshot_preview1" "sock_open" (func))`, all...),
			wantErr: `imports unknown function "wasi_snapshot_preview1"."sock_open"`},
		{name: "imported memory", wat: guestWAT(`(import "env" "memory" (memory 1)) (export "memory" (memory 0))`, "marker", "fetch"),
			wantErr: `imports memory "env"."memory": only functions may be imported`},
		{name: "imported table", wat: guestWAT(`(import "tlsgate" "table" (table 1 funcref))`, all...),
			wantErr: `imports table "tlsgate"."table": only functions may be imported`},
		{name: "imported global", wat: guestWAT(`(import "env" "g" (global i32))`, all...),
			wantErr: `imports global "env"."g": only functions may be imported`},
		{name: "memory maximum above the runtime cap is lowered to it", wat: guestWAT(`(memory (export "memory") 1 2048)`, all...)},
		{name: "memory minimum above the runtime cap", wat: guestWAT(`(memory (export "memory") 2048)`, "marker", "fetch"),
			wantErr: `wasmhost: module "x.wasm": compile:`},
	}
	rt := newRuntime(t)
	ctx := context.Background()
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			wasm := compileWAT(t, tt.wat)
			m, err := rt.Compile(ctx, "x.wasm", wasm)
			if tt.wantErr == "" {
				if err != nil {
					t.Fatalf("Compile: %v", err)
				}
				defer m.Close(ctx)
				sum := sha256.Sum256(wasm)
				if m.Name() != "x.wasm" || m.Digest() != hex.EncodeToString(sum[:]) {
					t.Fatalf("Name, Digest = %q, %q", m.Name(), m.Digest())
				}
				if !m.HasFetch() && !m.HasStore() {
					t.Fatal("module has no hook")
				}
				return
			}
			if err == nil {
				m.Close(ctx)
				t.Fatalf("Compile succeeded, want error containing %q", tt.wantErr)
			}
			if !errors.Is(err, wasmhost.ErrInvalidModule) {
				t.Errorf("error %v does not wrap ErrInvalidModule", err)
			}
			if !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("error\n %v\nwant it to contain\n %s", err, tt.wantErr)
			}
		})
	}
	t.Run("not wasm", func(t *testing.T) {
		_, err := rt.Compile(ctx, "junk.wasm", []byte("hello"))
		if !errors.Is(err, wasmhost.ErrInvalidModule) || !strings.Contains(err.Error(), `"junk.wasm"`) {
			t.Fatalf("error %v, want ErrInvalidModule naming the module", err)
		}
	})
	t.Run("hooks reported", func(t *testing.T) {
		m := compileGuest(t, rt, "reactor")
		if !m.HasFetch() || m.HasStore() {
			t.Fatalf("HasFetch, HasStore = %v, %v; want true, false", m.HasFetch(), m.HasStore())
		}
		p := newPool(t, m)
		if err := p.Store(ctx, wasmhost.StoreInput{}); !errors.Is(err, wasmhost.ErrNoExport) {
			t.Fatalf("Store on a fetch-only guest: %v, want ErrNoExport", err)
		}
	})
}
