package natskv_test

import (
	"context"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/tlsgate/tlsgate/gateway/natskv"
)

// deleteBucket deletes a KV bucket through a separate in-process connection,
// as an operator would.
func deleteBucket(ctx context.Context, s *natskv.Server, name string) error {
	nc, err := natskv.InProcessConn(s)
	if err != nil {
		return err
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		return err
	}
	return js.DeleteKeyValue(ctx, name)
}
