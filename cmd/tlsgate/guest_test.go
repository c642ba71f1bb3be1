package main

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tlsgate/tlsgate/gateway/natskv"
	"github.com/tlsgate/tlsgate/guests/prebuilt"
)

func TestGuestPushAndList(t *testing.T) {
	srv, err := natskv.StartEmbedded(context.Background(), natskv.WithClientListen("127.0.0.1:0"), natskv.WithDataDir(t.TempDir()))
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close(context.Background())
	url := srv.ClientURL()
	dir := t.TempDir()
	good := filepath.Join(dir, "sessioncache.wasm")
	os.WriteFile(good, prebuilt.SessionCache, 0o600)
	tests := []struct {
		name     string
		args     []string
		wantCode int
		want     string
	}{
		{"not wasm is refused", []string{"guest", "push", "--nats", url, "cache", "main_test.go"}, 2, "refused, nothing deployed"},
		{"wrong marker is refused", []string{"guest", "push", "--nats", url, "cache", "../../wasmhost/wasmhosttest/testdata/marker_signature.wasm"}, 2, "tlsgate_abi_v1"},
		{"failing on_init is refused", []string{"guest", "push", "--nats", url, "cache", good, "--guest-config", "bogus=1"}, 2, "refused, nothing deployed"},
		{"bad name", []string{"guest", "push", "--nats", url, "no/slash", good}, 2, "must be 1-64 of"},
		{"nothing deployed yet", []string{"guest", "list", "--nats", url}, 0, "MODULE"},
		{"valid module", []string{"guest", "push", "--nats", url, "cache", good}, 0, "deployed nats:cache (2"},
		{"listed", []string{"guest", "list", "--nats", url}, 0, "nats:cache"},
		{"unreachable NATS", []string{"guest", "list", "--nats", "nats://" + freeAddr(t)}, 1, "cannot reach NATS"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out, code := run(t, binPlain, tt.args...)
			if code != tt.wantCode || !strings.Contains(out, tt.want) {
				t.Fatalf("exit %d (want %d), output:\n%s\nwant it to contain %q", code, tt.wantCode, out, tt.want)
			}
		})
	}
	if out, _ := run(t, binPlain, "guest", "list", "--nats", url); strings.Count(out, "nats:") != 1 {
		t.Errorf("refused pushes must deploy nothing; list:\n%s", out)
	}
}
