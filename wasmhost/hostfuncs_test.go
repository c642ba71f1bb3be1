package wasmhost_test

import (
	"bytes"
	"context"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/tlsgate/tlsgate/abi"
	"github.com/tlsgate/tlsgate/wasmhost"
)

const (
	ok          = int32(abi.StatusOK)
	notFound    = int32(abi.StatusNotFound)
	badArg      = int32(abi.StatusBadArgument)
	pending     = int32(abi.StatusPending)
	limitExc    = int32(abi.StatusLimitExceeded)
	unavailable = int32(abi.StatusUnavailable)
	exists      = int32(abi.StatusExists)
	badPtr      = int32(-16) // 0xFFFFFFF0: far outside memory
)

func neg(s int32) int32 { return -s }

// TestHostFunctions drives every host function through script.wat and
// checks the status the guest sees, or how the call fails.
func TestHostFunctions(t *testing.T) {
	id := sessionID(0)
	tests := []struct {
		name  string
		build func(s *script)
		kv    string // "" (none), "nats" or "slow"
		store bool   // run the store hook instead of fetch
		opts  []wasmhost.PoolOption

		want        []int32            // step results (fetch without opReturn)
		wantSession []byte             // session set by the script itself (ends with opReturn 0)
		wantKind    wasmhost.FaultKind // the call fails with a GuestError of this kind
		wantStatus  abi.Status         // with wantKind == FaultStatus
		wantErr     error              // the call fails with this error
	}{
		// input
		{name: "input copies the session id", build: func(s *script) {
			s.op(opInput, int32(abi.InputSessionID), scratchAddr, 64)
			s.op(opSetSession, scratchAddr, ref(0))
			s.op(opReturn, ok)
		}, wantSession: id},
		{name: "input too small returns the length and writes nothing", build: func(s *script) {
			s.op(opStore32, scratchAddr, 0x41414141)
			s.op(opInput, int32(abi.InputSessionID), scratchAddr, 16)
			s.op(opSetSession, scratchAddr, 4)
			s.op(opReturn, ok)
		}, wantSession: []byte("AAAA")},
		{name: "input limit exactly the length", build: func(s *script) {
			s.op(opInput, int32(abi.InputSessionID), scratchAddr, 32)
		}, want: []int32{32}},
		{name: "input strings and integers", build: func(s *script) {
			s.op(opInput, int32(abi.InputServerName), scratchAddr, 64)
			s.op(opInput, int32(abi.InputALPN), scratchAddr, 64)
			s.op(opInput, int32(abi.InputClientAddr), scratchAddr, 64)
			s.op(opInput, int32(abi.InputTenant), scratchAddr, 64)
			s.op(opInput, int32(abi.InputTLSVersion), scratchAddr, 8)
			s.op(opInput, int32(abi.InputMechanism), scratchAddr, 8)
			s.op(opInput, int32(abi.InputCall), scratchAddr, 8)
			s.op(opInput, int32(abi.InputGuestConfig), scratchAddr, 0)
		}, want: []int32{6, 2, 15, 4, 8, 8, 8, -1 /* replaced below */}},
		{name: "input integer is 8 little-endian bytes", build: func(s *script) {
			s.op(opInput, int32(abi.InputTLSVersion), scratchAddr, 8)
			s.op(opSetSession, scratchAddr, 8)
			s.op(opReturn, ok)
		}, wantSession: []byte{0x04, 0x03, 0, 0, 0, 0, 0, 0}},
		{name: "input store-only kinds are missing on fetch", build: func(s *script) {
			s.op(opInput, int32(abi.InputSession), scratchAddr, 64)
			s.op(opInput, int32(abi.InputTTL), scratchAddr, 8)
			s.op(opInput, int32(abi.InputSessionCreated), scratchAddr, 8)
		}, want: []int32{neg(notFound), neg(notFound), neg(notFound)}},
		{name: "input unknown kind or negative limit", build: func(s *script) {
			s.op(opInput, 0, scratchAddr, 64)
			s.op(opInput, 99, scratchAddr, 64)
			s.op(opInput, int32(abi.InputSessionID), scratchAddr, -1)
		}, want: []int32{neg(badArg), neg(badArg), neg(badArg)}},
		{name: "input to a wild pointer is misuse", build: func(s *script) {
			s.op(opInput, int32(abi.InputSessionID), badPtr, 64)
		}, wantKind: wasmhost.FaultMisuse},
		{name: "input across the end of memory is misuse", build: func(s *script) {
			s.op(opInput, int32(abi.InputSessionID), scriptMemSize-8, 64)
		}, wantKind: wasmhost.FaultMisuse},
		{name: "input integer across the end of memory is misuse", build: func(s *script) {
			s.op(opInput, int32(abi.InputCall), scriptMemSize-4, 8)
		}, wantKind: wasmhost.FaultMisuse},

		// set_session
		{name: "set_session over the limit", build: func(s *script) {
			s.op(opSetSession, scratchAddr, abi.MaxSessionLen+1)
		}, want: []int32{limitExc}},
		{name: "set_session negative length", build: func(s *script) {
			s.op(opSetSession, scratchAddr, -1)
		}, want: []int32{badArg}},
		{name: "set_session wild pointer is misuse", build: func(s *script) {
			s.op(opSetSession, badPtr, 16)
		}, wantKind: wasmhost.FaultMisuse},
		{name: "set_session during store is a bad argument", store: true, build: func(s *script) {
			s.op(opSetSession, scratchAddr, 16)
		}, wantKind: wasmhost.FaultStatus, wantStatus: abi.StatusBadArgument},
		{name: "set_session replaces an earlier one", build: func(s *script) {
			a := s.put([]byte("first"))
			b := s.put([]byte("second"))
			s.op(opSetSession, a, 5)
			s.op(opSetSession, b, 6)
			s.op(opReturn, ok)
		}, wantSession: []byte("second")},

		// log
		{name: "log levels", build: func(s *script) {
			m := s.put([]byte("hello"))
			s.op(opLog, int32(abi.LogDebug), m, 5)
			s.op(opLog, int32(abi.LogError), m, 5)
			s.op(opLog, 4, m, 5)
			s.op(opLog, -1, m, 5)
			s.op(opLog, int32(abi.LogInfo), m, -1)
			s.op(opLog, int32(abi.LogInfo), scratchAddr, 1<<30) // truncated to MaxLogLen
		}, want: []int32{ok, ok, badArg, badArg, badArg, ok}},
		{name: "log wild pointer is misuse", build: func(s *script) {
			s.op(opLog, int32(abi.LogInfo), badPtr, 5)
		}, wantKind: wasmhost.FaultMisuse},

		// kv_* argument checks
		{name: "kv argument checks", kv: "nats", build: func(s *script) {
			k := s.put([]byte("k"))
			s.op(opKVGet, k, 0)
			s.op(opKVGet, k, -1)
			s.op(opKVGet, k, abi.MaxKeyLen+1)
			s.op(opKVPut, k, 1, k, abi.MaxValueLen+1, 0)
			s.op(opKVPut, k, 1, k, -1, 0)
			s.op(opKVPut, k, 1, k, 1, -1)
			s.op(opKVCreate, k, 1, k, -1, 0)
			s.op(opKVDelete, k, 0)
		}, want: []int32{neg(badArg), neg(badArg), neg(limitExc), neg(limitExc), neg(badArg), neg(badArg), neg(badArg), neg(badArg)}},
		{name: "kv_get wild key is misuse", kv: "nats", build: func(s *script) {
			s.op(opKVGet, badPtr, 4)
		}, wantKind: wasmhost.FaultMisuse},
		{name: "kv_put past the per-call write budget completes LIMIT_EXCEEDED, writing nothing", kv: "nats",
			opts: []wasmhost.PoolOption{wasmhost.WithWriteBudget(100, 0)}, build: func(s *script) {
				k := s.put([]byte("k"))
				h1 := s.op(opKVPut, k, 1, k, 60, 0)
				s.op(opAwait, ref(h1), -1)
				h2 := s.op(opKVPut, k, 1, k, 60, 0)
				s.op(opAwait, ref(h2), -1)
				h3 := s.op(opKVCreate, k, 1, k, 38, 0) // 1+38 fits the 100 bytes left to 39
				s.op(opAwait, ref(h3), -1)
			}, want: []int32{1, ok, 2, limitExc, 3, exists}},
		{name: "kv_put past the per-second write budget completes LIMIT_EXCEEDED", kv: "nats",
			opts: []wasmhost.PoolOption{wasmhost.WithWriteBudget(0, 1)}, build: func(s *script) {
				k := s.put([]byte("k"))
				h1 := s.op(opKVPut, k, 1, k, 40000, 0)
				s.op(opAwait, ref(h1), -1)
				h2 := s.op(opKVPut, k, 1, k, 40000, 0)
				s.op(opAwait, ref(h2), -1)
			}, want: []int32{1, ok, 2, limitExc}},
		{name: "kv_put wild value is misuse", kv: "nats", build: func(s *script) {
			k := s.put([]byte("k"))
			s.op(opKVPut, k, 1, badPtr, 4, 0)
		}, wantKind: wasmhost.FaultMisuse},
		{name: "kv without a namespace is unavailable", build: func(s *script) {
			k := s.put([]byte("k"))
			h := s.op(opKVGet, k, 1)
			s.op(opAwait, ref(h), -1)
			s.op(opResult, ref(h), scratchAddr, 64)
		}, want: []int32{1, unavailable, neg(unavailable)}},
		{name: "more than MaxHandles live handles", kv: "nats", build: func(s *script) {
			k := s.put([]byte("k"))
			for range abi.MaxHandles + 1 {
				s.op(opKVGet, k, 1)
			}
		}, want: append(seq(1, abi.MaxHandles), neg(limitExc))},

		// KV operations, awaited
		{name: "put get create delete", kv: "nats", build: func(s *script) {
			k := s.put([]byte("key"))
			v := s.put([]byte("value"))
			miss := s.op(opKVGet, k, 3)
			s.op(opAwait, ref(miss), -1)               // 1
			s.op(opResult, ref(miss), scratchAddr, 64) // 2
			put := s.op(opKVPut, k, 3, v, 5, 1000)
			s.op(opAwait, ref(put), -1)               // 4
			s.op(opResult, ref(put), scratchAddr, 64) // 5
			cr := s.op(opKVCreate, k, 3, v, 5, 0)
			s.op(opAwait, ref(cr), -1) // 7
			get := s.op(opKVGet, k, 3)
			s.op(opAwait, ref(get), 1000)             // 9
			s.op(opResult, ref(get), scratchAddr, 64) // 10
			s.op(opResult, ref(get), scratchAddr, 2)  // 11: too small
			del := s.op(opKVDelete, k, 3)
			s.op(opAwait, ref(del), -1) // 13
			del2 := s.op(opKVDelete, k, 3)
			s.op(opAwait, ref(del2), -1) // 15
			again := s.op(opKVGet, k, 3)
			s.op(opAwait, ref(again), -1) // 17
			s.op(opRelease, ref(again))   // 18
		}, want: []int32{1, notFound, neg(notFound), 2, ok, 0, 3, exists, 4, ok, 5, 5, 5, ok, 6, ok, 7, notFound, ok}},
		{name: "result copies a get's value", kv: "nats", build: func(s *script) {
			k := s.put([]byte("key"))
			v := s.put([]byte("value"))
			put := s.op(opKVPut, k, 3, v, 5, 0)
			s.op(opAwait, ref(put), -1)
			get := s.op(opKVGet, k, 3)
			s.op(opAwait, ref(get), -1)
			s.op(opResult, ref(get), scratchAddr, 64)
			s.op(opSetSession, scratchAddr, ref(4))
			s.op(opReturn, ok)
		}, wantSession: []byte("value")},
		{name: "result to a wild buffer is misuse", kv: "nats", build: func(s *script) {
			k := s.put([]byte("key"))
			put := s.op(opKVPut, k, 3, k, 3, 0)
			s.op(opAwait, ref(put), -1)
			get := s.op(opKVGet, k, 3)
			s.op(opAwait, ref(get), -1)
			s.op(opResult, ref(get), badPtr, 64)
		}, wantKind: wasmhost.FaultMisuse},
		{name: "result negative limit", kv: "nats", build: func(s *script) {
			k := s.put([]byte("key"))
			get := s.op(opKVGet, k, 3)
			s.op(opAwait, ref(get), -1)
			s.op(opResult, ref(get), scratchAddr, -1)
		}, want: []int32{1, notFound, neg(badArg)}},

		// pending operations
		{name: "pending: poll, await with timeouts, result, release", kv: "slow", build: func(s *script) {
			k := s.put([]byte("slow"))
			h := s.op(opKVGet, k, 4)
			s.op(opPoll, ref(h))
			s.op(opAwait, ref(h), 0)
			s.op(opAwait, ref(h), 5)
			s.op(opResult, ref(h), scratchAddr, 64)
			s.op(opRelease, ref(h))
		}, want: []int32{1, pending, pending, pending, neg(pending), ok}},
		{name: "await until the deadline times the call out", kv: "slow", build: func(s *script) {
			k := s.put([]byte("slow"))
			h := s.op(opKVGet, k, 4)
			s.op(opAwait, ref(h), -1)
		}, wantKind: wasmhost.FaultTimeout, wantErr: context.DeadlineExceeded},

		// await_any
		{name: "await_any returns the completed index", kv: "slow", build: func(s *script) {
			slow := s.put([]byte("slow"))
			fast := s.put([]byte("fast"))
			h0 := s.op(opKVGet, slow, 4)
			h1 := s.op(opKVGet, fast, 4)
			s.op(opStore32, scratchAddr, ref(h0))
			s.op(opStore32, scratchAddr+4, ref(h1))
			s.op(opAwaitAny, scratchAddr, 2, -1)
			s.op(opAwaitAny, scratchAddr, 1, 0)
			s.op(opAwaitAny, scratchAddr, 1, 5)
			s.op(opPoll, ref(h1))
		}, want: []int32{1, 2, 0, 0, 1, neg(pending), neg(pending), notFound}},
		{name: "await_any lowest completed index", kv: "nats", build: func(s *script) {
			k := s.put([]byte("k"))
			h0 := s.op(opKVGet, k, 1)
			h1 := s.op(opKVGet, k, 1)
			s.op(opAwait, ref(h0), -1)
			s.op(opAwait, ref(h1), -1)
			s.op(opStore32, scratchAddr, ref(h1))
			s.op(opStore32, scratchAddr+4, ref(h0))
			s.op(opAwaitAny, scratchAddr, 2, -1)
		}, want: []int32{1, 2, notFound, notFound, 0, 0, 0}},
		{name: "await_any count out of range", kv: "nats", build: func(s *script) {
			s.op(opAwaitAny, scratchAddr, 0, 0)
			s.op(opAwaitAny, scratchAddr, -1, 0)
			s.op(opAwaitAny, scratchAddr, abi.MaxHandles+1, 0)
		}, want: []int32{neg(badArg), neg(badArg), neg(limitExc)}},
		{name: "await_any wild array is misuse", kv: "nats", build: func(s *script) {
			s.op(opAwaitAny, badPtr, 2, 0)
		}, wantKind: wasmhost.FaultMisuse},
		{name: "await_any unknown handle is misuse", kv: "nats", build: func(s *script) {
			k := s.put([]byte("k"))
			h := s.op(opKVGet, k, 1)
			s.op(opStore32, scratchAddr, ref(h))
			s.op(opStore32, scratchAddr+4, 777)
			s.op(opAwaitAny, scratchAddr, 2, 0)
		}, wantKind: wasmhost.FaultMisuse},
		{name: "await_any until the deadline times the call out", kv: "slow", build: func(s *script) {
			k := s.put([]byte("slow"))
			h := s.op(opKVGet, k, 4)
			s.op(opStore32, scratchAddr, ref(h))
			s.op(opAwaitAny, scratchAddr, 1, -1)
		}, wantKind: wasmhost.FaultTimeout, wantErr: context.DeadlineExceeded},

		// handle misuse
		{name: "await unknown handle is misuse", build: func(s *script) {
			s.op(opAwait, 12345, 0)
		}, wantKind: wasmhost.FaultMisuse},
		{name: "poll unknown handle is misuse", build: func(s *script) {
			s.op(opPoll, -3)
		}, wantKind: wasmhost.FaultMisuse},
		{name: "result unknown handle is misuse", build: func(s *script) {
			s.op(opResult, 0, scratchAddr, 8)
		}, wantKind: wasmhost.FaultMisuse},
		{name: "release twice is misuse", kv: "nats", build: func(s *script) {
			k := s.put([]byte("k"))
			h := s.op(opKVGet, k, 1)
			s.op(opRelease, ref(h))
			s.op(opRelease, ref(h))
		}, wantKind: wasmhost.FaultMisuse},
		{name: "await after release is misuse", kv: "nats", build: func(s *script) {
			k := s.put([]byte("k"))
			h := s.op(opKVGet, k, 1)
			s.op(opRelease, ref(h))
			s.op(opAwait, ref(h), -1)
		}, wantKind: wasmhost.FaultMisuse},
		{name: "misuse fails the call even when the guest returns OK", build: func(s *script) {
			s.op(opPoll, 5)
			s.op(opReturn, ok)
		}, wantKind: wasmhost.FaultMisuse},

		// export results
		{name: "fetch NOT_FOUND is a miss", build: func(s *script) {
			s.op(opReturn, notFound)
		}, wantErr: wasmhost.ErrMiss},
		{name: "fetch OK without set_session is a guest error", build: func(s *script) {
			s.op(opReturn, ok)
		}, wantKind: wasmhost.FaultStatus, wantStatus: abi.StatusOK},
		{name: "fetch other status is a guest error", build: func(s *script) {
			s.op(opReturn, int32(abi.StatusInternal))
		}, wantKind: wasmhost.FaultStatus, wantStatus: abi.StatusInternal},
		{name: "store OK", store: true, build: func(s *script) {
			s.op(opReturn, ok)
		}},
		{name: "store NOT_FOUND is a guest error", store: true, build: func(s *script) {
			s.op(opReturn, notFound)
		}, wantKind: wasmhost.FaultStatus, wantStatus: abi.StatusNotFound},
		{name: "store inputs", store: true, build: func(s *script) {
			s.op(opInput, int32(abi.InputSession), scratchAddr, 64)
			s.op(opInput, int32(abi.InputTTL), scratchAddr, 8)
			s.op(opInput, int32(abi.InputSessionCreated), scratchAddr, 8)
			s.op(opInput, int32(abi.InputCall), scratchAddr, 8)
			s.op(opReturn, ok)
		}},
	}
	rt := newRuntime(t)
	m := compileGuest(t, rt, "script")
	nats := newBucket(t)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var s script
			tt.build(&s)
			// A short call timeout only where the case awaits it; elsewhere
			// it would fail a NATS round trip on a busy machine.
			callTimeout := testTimeout
			if tt.wantKind == wasmhost.FaultTimeout {
				callTimeout = 200 * time.Millisecond
			}
			opts := []wasmhost.PoolOption{wasmhost.WithTenant("acme"), wasmhost.WithGuestConfig(s.config()),
				wasmhost.WithMaxInstances(1), wasmhost.WithCallTimeout(callTimeout), wasmhost.WithPoolLogger(quietLogger)}
			opts = append(opts, tt.opts...)
			switch tt.kv {
			case "nats":
				opts = append(opts, wasmhost.WithKV(nats))
			case "slow":
				opts = append(opts, wasmhost.WithKV(&slowKV{KV: nats}))
			}
			// Keys of one case must not see another's.
			ctx := context.Background()
			for _, k := range []string{"a2V5", "aw"} {
				_ = nats.Delete(ctx, k)
			}
			p := newPool(t, m, opts...)
			var got []byte
			var err error
			if tt.store {
				err = p.Store(ctx, wasmhost.StoreInput{SessionID: id, Session: []byte("sealed"), TTL: time.Minute, Created: time.Unix(1700000000, 0)})
			} else {
				got, err = p.Fetch(ctx, fetchInput(0))
			}
			switch {
			case tt.wantKind != "":
				ge := guestErr(t, err, tt.wantKind)
				if tt.wantKind == wasmhost.FaultStatus && ge.Status != tt.wantStatus {
					t.Fatalf("status %v, want %v", ge.Status, tt.wantStatus)
				}
				if tt.wantErr != nil && !errors.Is(err, tt.wantErr) {
					t.Fatalf("error %v does not match %v", err, tt.wantErr)
				}
				if tt.wantKind != wasmhost.FaultStatus {
					st := p.Stats()
					if st.Discarded[string(tt.wantKind)] != 1 {
						t.Fatalf("discarded %v, want one %q", st.Discarded, tt.wantKind)
					}
				}
				return
			case tt.wantErr != nil:
				if !errors.Is(err, tt.wantErr) {
					t.Fatalf("error %v, want %v", err, tt.wantErr)
				}
				return
			case err != nil:
				t.Fatalf("unexpected error: %v", err)
			case tt.store:
				return
			case tt.wantSession != nil:
				if !bytes.Equal(got, tt.wantSession) {
					t.Fatalf("session %q, want %q", got, tt.wantSession)
				}
				return
			}
			want := tt.want
			if tt.name == "input strings and integers" {
				want[len(want)-1] = int32(len(s.config()))
			}
			if res := results(got); !slices.Equal(res, want) {
				t.Fatalf("step results\n got %v\nwant %v", res, want)
			}
		})
	}
}

// seq returns from, from+1, ..., from+n-1.
func seq(from, n int) []int32 {
	out := make([]int32, n)
	for i := range out {
		out[i] = int32(from + i)
	}
	return out
}
