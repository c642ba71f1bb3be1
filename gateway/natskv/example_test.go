package natskv_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"time"

	"github.com/tlsgate/tlsgate/gateway/natskv"
	"github.com/tlsgate/tlsgate/wasmhost"
)

// A single gateway: an embedded server keeping its data under a directory,
// an in-process client, and one tenant's view of the sessions bucket.
func Example() {
	ctx := context.Background()
	dir, _ := os.MkdirTemp("", "natskv-example-")
	defer os.RemoveAll(dir)

	srv, err := natskv.StartEmbedded(ctx, natskv.WithDataDir(dir))
	if err != nil {
		panic(err)
	}
	defer srv.Close(ctx)
	client, err := natskv.Connect(ctx, natskv.WithInProcess(srv), natskv.WithLogger(slog.New(slog.DiscardHandler)))
	if err != nil {
		panic(err)
	}
	defer client.Close(ctx)

	sessions, err := client.Bucket(ctx, "acme", natskv.WithTTL(7*24*time.Hour))
	if err != nil {
		panic(err)
	}
	_ = sessions.Put(ctx, "czEyMw", []byte("sealed session"), time.Hour)
	v, _ := sessions.Get(ctx, "czEyMw")
	_, err = sessions.Get(ctx, "bm90LXRoZXJl")
	fmt.Println(sessions.Name())
	fmt.Println(string(v))
	fmt.Println(errors.Is(err, wasmhost.ErrKeyNotFound))
	// Output:
	// tlsgate_sessions
	// sealed session
	// true
}
