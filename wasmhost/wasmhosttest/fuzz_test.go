package wasmhosttest_test

import (
	"context"
	"encoding/binary"
	"errors"
	"io/fs"
	"testing"
	"time"

	"github.com/tlsgate/tlsgate/wasmhost"
	"github.com/tlsgate/tlsgate/wasmhost/wasmhosttest"
)

// Operations of fuzz_hostcalls.wat's tape.
const (
	opInput = iota
	opSetSession
	opLog
	opKVGet
	opKVPut
	opKVCreate
	opKVDelete
	opAwait
	opAwaitAny
	opPoll
	opResult
	opRelease
)

// record encodes one tape record; useLast replaces a with the previous
// call's result.
func record(op byte, useLast bool, args ...int32) []byte {
	r := make([]byte, 24)
	r[0] = op
	if useLast {
		r[1] = 1
	}
	for i, a := range args {
		binary.LittleEndian.PutUint32(r[4+4*i:], uint32(a))
	}
	return r
}

func tape(records ...[]byte) []byte {
	var b []byte
	for _, r := range records {
		b = append(b, r...)
	}
	return b
}

// FuzzHostInputs drives fuzz_hostcalls.wat, whose tape of host calls (every
// function, pointer, length, kind, level, handle and ttl) is the fuzzer's
// input, and checks that the host never panics, that each call ends in one of
// the outcomes the ABI allows, and that the pool serves a valid call after.
func FuzzHostInputs(f *testing.F) {
	// A tape runs for at most ~100ms of awaits; the generous call timeout
	// keeps a loaded machine from turning a slow valid call into a failure.
	h := newHost(f, wasmhost.WithCallTimeout(30*time.Second))
	wasm, err := fs.ReadFile(wasmhosttest.Guests(), "fuzz_hostcalls.wasm")
	if err != nil {
		f.Fatal(err)
	}
	const key, val, buf = 0x100, 0x200, 0x400
	for _, seed := range [][]byte{
		nil,
		tape(record(opKVPut, false, key, 8, val, 16, 60000), record(opAwait, true, 0, 3),
			record(opKVGet, false, key, 8), record(opAwait, true, 0, 3),
			record(opResult, false, 2, buf, 100), record(opSetSession, false, buf, 16), record(opRelease, false, 2)),
		tape(record(opKVCreate, false, key, 8, val, 4, 0), record(opKVCreate, false, key, 8, val, 4, 0),
			record(opPoll, true), record(opKVDelete, false, key, 8), record(opAwait, true, 0, 3)),
		tape(record(opInput, false, 1, -16, 64), record(opSetSession, false, 0, 70000),
			record(opLog, false, 9, 0, 5), record(opLog, false, 1, 65000, 4096)),
		tape(record(opInput, false, 9, buf, 8192), record(opInput, false, 12, buf, 8),
			record(opInput, false, 0, buf, -1), record(opInput, false, 11, buf, 7)),
		tape(record(opRelease, false, 1), record(opAwait, false, 7, 1), record(opAwaitAny, false, buf, 64, 1)),
		tape(record(opKVGet, false, key, 600), record(opKVPut, false, key, 8, val, 70000, 0),
			record(opKVPut, false, key, 8, val, 4, -1), record(opAwaitAny, false, buf, 0, 0)),
	} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, tape []byte) {
		if len(tape) > 8192 {
			tape = tape[:8192]
		}
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		g, err := h.Load(ctx, wasmhosttest.GuestSpec{Name: "fuzz_hostcalls", Tenant: "fuzz", Wasm: wasm, Config: tape})
		if err != nil {
			t.Fatalf("load with a %d-byte tape: %v", len(tape), err)
		}
		defer func() {
			if err := g.Close(ctx); err != nil {
				t.Errorf("close: %v", err)
			}
		}()
		id := make([]byte, 32)
		id[0] = 0xff
		var ge *wasmhost.GuestError
		if _, err := g.Fetch(ctx, wasmhost.FetchInput{SessionID: id}); err != nil &&
			!errors.Is(err, wasmhost.ErrMiss) && !errors.As(err, &ge) {
			t.Fatalf("fetch: %v, want a hit, wasmhost.ErrMiss or a *wasmhost.GuestError", err)
		}
		if err := g.Store(ctx, wasmhost.StoreInput{SessionID: id, Session: []byte("s"), TTL: time.Minute}); err != nil && !errors.As(err, &ge) {
			t.Fatalf("store: %v, want nil or a *wasmhost.GuestError", err)
		}
		if got, err := g.Fetch(ctx, wasmhost.FetchInput{SessionID: make([]byte, 32)}); !errors.Is(err, wasmhost.ErrMiss) {
			t.Fatalf("valid fetch after the tape: (%q, %v), want wasmhost.ErrMiss", got, err)
		}
	})
}
