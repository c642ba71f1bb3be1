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
	dir := t.TempDir()
	gatewayKey, deployerKey := filepath.Join(dir, "gateway.nk"), filepath.Join(dir, "deployer.nk")
	gatewayPub, err := natskv.LoadOrCreateNkey(gatewayKey)
	if err != nil {
		t.Fatal(err)
	}
	deployerPub, err := natskv.LoadOrCreateNkey(deployerKey)
	if err != nil {
		t.Fatal(err)
	}
	srv, err := natskv.StartEmbedded(context.Background(), natskv.WithClientListen("127.0.0.1:0"), natskv.WithDataDir(t.TempDir()),
		natskv.WithNkeyUser(gatewayPub, natskv.RoleGateway), natskv.WithNkeyUser(deployerPub, natskv.RoleDeployer))
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close(context.Background())
	url := srv.ClientURL()
	good := filepath.Join(dir, "sessioncache.wasm")
	os.WriteFile(good, prebuilt.SessionCache, 0o600)
	tests := []struct {
		name     string
		args     []string
		wantCode int
		want     string
	}{
		{"not wasm is refused", []string{"guest", "push", "--nats", url, "--nkey", deployerKey, "cache", "main_test.go"}, 2, "refused, nothing deployed"},
		{"wrong marker is refused", []string{"guest", "push", "--nats", url, "--nkey", deployerKey, "cache", "../../wasmhost/wasmhosttest/testdata/marker_signature.wasm"}, 2, "tlsgate_abi_v1"},
		{"failing on_init is refused", []string{"guest", "push", "--nats", url, "--nkey", deployerKey, "cache", good, "--guest-config", "bogus=1"}, 2, "refused, nothing deployed"},
		{"bad name", []string{"guest", "push", "--nats", url, "--nkey", deployerKey, "no/slash", good}, 2, "must be 1-64 of"},
		{"nothing deployed yet", []string{"guest", "list", "--nats", url, "--nkey", gatewayKey}, 0, "MODULE"},
		{"valid module", []string{"guest", "push", "--nats", url, "--nkey", deployerKey, "cache", good}, 0, "deployed nats:cache (2"},
		{"listed", []string{"guest", "list", "--nats", url, "--nkey", gatewayKey}, 0, "nats:cache"},
		{"anonymous is refused", []string{"guest", "list", "--nats", url}, 1, "uthorization"},
		{"a gateway's key may not deploy", []string{"guest", "push", "--nats", url, "--nkey", gatewayKey, "cache", good}, 1, "may not deploy guests"},
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
	if out, _ := run(t, binPlain, "guest", "list", "--nats", url, "--nkey", gatewayKey); strings.Count(out, "nats:") != 1 {
		t.Errorf("refused pushes must deploy nothing; list:\n%s", out)
	}
}
