package wasmhost_test

import (
	"bytes"
	"context"
	"errors"
	"testing"
	"time"

	"github.com/tlsgate/tlsgate/abi"
	"github.com/tlsgate/tlsgate/wasmhost"
)

// TestSessionRoundTrip stores sessions through the kv.wat guest into a real
// JetStream bucket and fetches them back.
func TestSessionRoundTrip(t *testing.T) {
	ctx := context.Background()
	kv := newBucket(t)
	rt := newRuntime(t)
	p := newPool(t, compileGuest(t, rt, "kv"), wasmhost.WithTenant("acme"), wasmhost.WithKV(kv))

	sealed := bytes.Repeat([]byte("sealed-session!"), 100)
	err := p.Store(ctx, wasmhost.StoreInput{
		SessionID: sessionID(1), Session: sealed, TTL: time.Hour, Created: time.Now(),
		ServerName: "a.test", TLSVersion: 0x0304, Mechanism: abi.MechanismTLS13PSK,
	})
	if err != nil {
		t.Fatalf("Store: %v", err)
	}
	tests := []struct {
		name    string
		id      []byte
		want    []byte
		wantErr error
	}{
		{name: "stored session is a hit", id: sessionID(1), want: sealed},
		{name: "unknown session is a miss", id: sessionID(2), wantErr: wasmhost.ErrMiss},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			in := fetchInput(0)
			in.SessionID = tt.id
			got, err := p.Fetch(ctx, in)
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("Fetch error %v, want %v", err, tt.wantErr)
			}
			if !bytes.Equal(got, tt.want) {
				t.Fatalf("Fetch = %d bytes, want %d", len(got), len(tt.want))
			}
		})
	}
	// The guest's key reached the bucket base64url-encoded.
	if _, err := kv.Get(ctx, "AQIDBAUGBwgJCgsMDQ4PEBESExQVFhcYGRobHB0eHyA"); err != nil {
		t.Fatalf("encoded key not in bucket: %v", err)
	}
}
