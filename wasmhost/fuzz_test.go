package wasmhost_test

import (
	"context"
	"errors"
	"runtime"
	"testing"
	"time"

	"github.com/tlsgate/tlsgate/abi"
	"github.com/tlsgate/tlsgate/wasmhost"
)

// FuzzHostFunctions feeds arbitrary scripts to script.wat: any sequence of
// host calls with any arguments must end in a result or a clean error,
// never a host panic or a hung call.
func FuzzHostFunctions(f *testing.F) {
	seed := func(build func(s *script)) []byte {
		var s script
		build(&s)
		return s.config()
	}
	f.Add(seed(func(s *script) { s.op(opInput, int32(abi.InputSessionID), badPtr, 64) }))
	f.Add(seed(func(s *script) {
		k := s.put([]byte("k"))
		h := s.op(opKVGet, k, 1)
		s.op(opStore32, scratchAddr, ref(h))
		s.op(opAwaitAny, scratchAddr, 1, 5)
		s.op(opResult, ref(h), scratchAddr, 1<<30)
	}))
	f.Add(seed(func(s *script) { s.op(opSetSession, scriptMemSize-1, 2) }))
	f.Add(seed(func(s *script) { s.op(opLog, 1, 0, -5); s.op(opKVPut, 0, 512, 0, abi.MaxValueLen, -1) }))

	rt := newRuntime(f)
	m := compileGuest(f, rt, "script")
	kv := newBucket(f)
	f.Fuzz(func(t *testing.T, config []byte) {
		if len(config) > abi.MaxInputLen {
			return
		}
		watchdog := time.AfterFunc(30*time.Second, func() { // a bound on a hang, not on speed
			buf := make([]byte, 1<<20)
			panic("hung:\n" + string(buf[:runtime.Stack(buf, true)]))
		})
		defer watchdog.Stop()
		p, err := wasmhost.NewPool(context.Background(), m, wasmhost.WithGuestConfig(config), wasmhost.WithKV(kv),
			wasmhost.WithMaxInstances(1), wasmhost.WithCallTimeout(20*time.Millisecond), wasmhost.WithPoolLogger(quietLogger))
		if err != nil {
			t.Fatal(err)
		}
		defer p.Close(context.Background())
		start := time.Now()
		_, err = p.Fetch(context.Background(), fetchInput(0))
		var ge *wasmhost.GuestError
		if err != nil && !errors.As(err, &ge) && !errors.Is(err, wasmhost.ErrMiss) {
			t.Fatalf("unexpected error %v", err)
		}
		if d := time.Since(start); d > 5*time.Second {
			t.Fatalf("call took %v", d)
		}
		// The pool still serves.
		_ = p.Store(context.Background(), wasmhost.StoreInput{SessionID: sessionID(1), TTL: time.Minute})
	})
}
