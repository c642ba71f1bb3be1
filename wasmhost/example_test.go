package wasmhost_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/tlsgate/tlsgate/abi"
	"github.com/tlsgate/tlsgate/gateway/natskv"
	"github.com/tlsgate/tlsgate/guests/prebuilt"
	"github.com/tlsgate/tlsgate/wasmhost"
)

// The reference session-cache guest, run by the host against a tenant's
// bucket in an embedded NATS: a store, then a fetch of the same identifier
// (a hit), then a fetch of an unknown one (a miss).
func ExampleNewPool() {
	ctx := context.Background()
	srv, _ := natskv.StartEmbedded(ctx)
	defer srv.Close(ctx)
	client, _ := natskv.Connect(ctx, natskv.WithInProcess(srv))
	defer client.Close(ctx)
	bucket, _ := client.Bucket(ctx, "shop", natskv.WithStorage("memory"))

	rt, _ := wasmhost.NewRuntime(ctx)
	defer rt.Close(ctx)
	mod, err := rt.Compile(ctx, "sessioncache.wasm", prebuilt.SessionCache)
	if err != nil {
		fmt.Println(err)
		return
	}
	defer mod.Close(ctx)
	pool, _ := wasmhost.NewPool(ctx, mod, wasmhost.WithTenant("shop"), wasmhost.WithKV(bucket),
		wasmhost.WithCallTimeout(30*time.Second), wasmhost.WithPoolLogger(slog.New(slog.DiscardHandler)))
	defer pool.Close(ctx)

	id := []byte("0123456789abcdef0123456789abcdef")
	err = pool.Store(ctx, wasmhost.StoreInput{
		SessionID: id, Session: []byte("sealed session bytes"), TTL: time.Hour,
		ServerName: "shop.example.com", TLSVersion: 0x0304, Mechanism: abi.MechanismTLS13PSK,
	})
	fmt.Println("store:", err)
	got, err := pool.Fetch(ctx, wasmhost.FetchInput{SessionID: id, ServerName: "shop.example.com", TLSVersion: 0x0304})
	fmt.Printf("fetch: %q %v\n", got, err)
	_, err = pool.Fetch(ctx, wasmhost.FetchInput{SessionID: []byte("unknown")})
	fmt.Println("unknown:", errors.Is(err, wasmhost.ErrMiss))
	// Output:
	// store: <nil>
	// fetch: "sealed session bytes" <nil>
	// unknown: true
}
