package natskv_test

import (
	"context"
	"strings"
	"testing"

	"github.com/tlsgate/tlsgate/gateway/natskv"
)

// Port 0 means any free port, as for net.Listen (nats-server alone would
// read it as its default, 4222): two servers must both start.
func TestClientListenPortZeroPicksFreePorts(t *testing.T) {
	admit, _, _ := users(t)
	var urls []string
	for range 2 {
		s, err := natskv.StartEmbedded(context.Background(), append(admit, natskv.WithClientListen("127.0.0.1:0"))...)
		if err != nil {
			t.Fatalf("StartEmbedded: %v", err)
		}
		t.Cleanup(func() { s.Close(context.Background()) })
		urls = append(urls, s.ClientURL())
	}
	if urls[0] == urls[1] || strings.HasSuffix(urls[0], ":4222") {
		t.Fatalf("client URLs %v: want two distinct free ports", urls)
	}
}
