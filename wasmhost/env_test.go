package wasmhost_test

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/tlsgate/tlsgate/abi"
	"github.com/tlsgate/tlsgate/wasmhost"
)

var quietLogger = slog.New(slog.NewTextHandler(io.Discard, nil))

func newRuntime(tb testing.TB, opts ...wasmhost.RuntimeOption) *wasmhost.Runtime {
	tb.Helper()
	ctx := context.Background()
	rt, err := wasmhost.NewRuntime(ctx, append([]wasmhost.RuntimeOption{wasmhost.WithLogger(quietLogger)}, opts...)...)
	if err != nil {
		tb.Fatalf("NewRuntime: %v", err)
	}
	tb.Cleanup(func() {
		if err := rt.Close(ctx); err != nil {
			tb.Errorf("Runtime.Close: %v", err)
		}
	})
	return rt
}

func compileGuest(tb testing.TB, rt *wasmhost.Runtime, name string) *wasmhost.Module {
	tb.Helper()
	return compileBytes(tb, rt, name+".wasm", guestWasm(tb, name))
}

func compileBytes(tb testing.TB, rt *wasmhost.Runtime, name string, wasm []byte) *wasmhost.Module {
	tb.Helper()
	m, err := rt.Compile(context.Background(), name, wasm)
	if err != nil {
		tb.Fatalf("Compile %s: %v", name, err)
	}
	tb.Cleanup(func() { _ = m.Close(context.Background()) })
	return m
}

// testTimeout is the call and init timeout of the pools newPool makes
// unless opts set one: wasmhost's defaults (100 ms a call, 5 s an init)
// are production budgets, and a loaded machine misses them on calls that
// must succeed. A test of what a timeout does sets its own.
const testTimeout = 30 * time.Second

func newPool(tb testing.TB, m *wasmhost.Module, opts ...wasmhost.PoolOption) *wasmhost.Pool {
	tb.Helper()
	opts = append([]wasmhost.PoolOption{wasmhost.WithCallTimeout(testTimeout), wasmhost.WithInitTimeout(testTimeout)}, opts...)
	p, err := wasmhost.NewPool(context.Background(), m, opts...)
	if err != nil {
		tb.Fatalf("NewPool: %v", err)
	}
	tb.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if err := p.Close(ctx); err != nil {
			tb.Errorf("Pool.Close: %v", err)
		}
	})
	return p
}

func sessionID(seed byte) []byte {
	id := make([]byte, 32)
	for i := range id {
		id[i] = seed + byte(i)
	}
	return id
}

func fetchInput(seed byte) wasmhost.FetchInput {
	return wasmhost.FetchInput{
		SessionID:  sessionID(seed),
		ServerName: "a.test",
		ALPN:       "h2",
		ClientAddr: "127.0.0.1:40000",
		TLSVersion: 0x0304,
		Mechanism:  abi.MechanismTLS13PSK,
	}
}

// guestErr asserts err is a *GuestError of the given kind.
func guestErr(tb testing.TB, err error, kind wasmhost.FaultKind) *wasmhost.GuestError {
	tb.Helper()
	var ge *wasmhost.GuestError
	if !errors.As(err, &ge) {
		tb.Fatalf("error %v (%T), want a *GuestError of kind %s", err, err, kind)
	}
	if ge.Kind != kind {
		tb.Fatalf("GuestError kind %s, want %s: %v", ge.Kind, kind, err)
	}
	return ge
}
