package main

import (
	"crypto/tls"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tlsgate/tlsgate/gateway"
)

// tlsgate tenant put/get/list/rm against a running gateway: a put tenant
// is served, a bad document is refused with its field path and nothing is
// written, a gateway's key may not write, and a removed tenant goes.
func TestTenantCommands(t *testing.T) {
	g := startGW(t, gwOpts{bin: binPlain, natsLsn: true, extra: "registry: {enabled: true}\n"})
	dir := t.TempDir()
	keys := filepath.Join(dir, "sealing-keys.yaml")
	if err := os.WriteFile(keys, []byte(fmt.Sprintf("keys:\n  - {id: k1, key: %q}\n", testSealingKey)), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := gateway.WriteSelfSigned(filepath.Join(dir, "shop.crt"), filepath.Join(dir, "shop.key"), []string{"shop.test"}, "ecdsa"); err != nil {
		t.Fatal(err)
	}
	doc := "name: shop\nserver_names: [shop.test]\nupstream: builtin\ncertificate: {cert_file: shop.crt, key_file: shop.key}\nguest: {module: \"builtin:sessioncache\"%s}\n"
	good, bad := filepath.Join(dir, "shop.yaml"), filepath.Join(dir, "bad.yaml")
	os.WriteFile(good, []byte(fmt.Sprintf(doc, "")), 0o600)
	os.WriteFile(bad, []byte(fmt.Sprintf(doc, ", fetch_deadline: 1m")), 0o600)
	deployer, gatewayKey := filepath.Join(g.dataDir, "nats-deployer.nk"), filepath.Join(g.dataDir, "nats-gateway.nk")
	nats := []string{"--nats", "nats://" + g.nats}

	steps := []struct {
		name     string
		args     []string
		wantCode int
		want     string
	}{
		{"empty list", []string{"tenant", "list", "--nkey", gatewayKey}, 0, "TENANT"},
		{"bad document", []string{"tenant", "put", "-f", bad, "--nkey", deployer, "--keys", keys}, 2, "guest.fetch_deadline: 1m0s is out of range"},
		{"nothing written", []string{"tenant", "get", "shop", "--nkey", deployer}, 1, "not in the registry"},
		{"a gateway's key may not write", []string{"tenant", "put", "-f", good, "--nkey", gatewayKey, "--keys", keys}, 1, "may not change the registry"},
		{"put", []string{"tenant", "put", "-f", good, "--nkey", deployer, "--keys", keys}, 0, "put tenant shop"},
		{"get", []string{"tenant", "get", "shop", "--nkey", gatewayKey}, 0, `"nats": "`},
		{"list", []string{"tenant", "list", "--nkey", gatewayKey}, 0, "shop.test"},
	}
	for _, st := range steps {
		out, code := run(t, binPlain, append(st.args, nats...)...)
		if code != st.wantCode || !strings.Contains(out, st.want) {
			t.Fatalf("%s: exit %d (want %d), output:\n%s\nwant it to contain %q", st.name, code, st.wantCode, out, st.want)
		}
	}
	if out, _ := run(t, binPlain, append([]string{"tenant", "get", "shop", "--nkey", deployer}, nats...)...); strings.Contains(out, "PRIVATE KEY") {
		t.Errorf("the stored document holds a private key:\n%s", out)
	}
	serves := func() error {
		c, err := tls.DialWithDialer(&net.Dialer{Timeout: 30 * time.Second}, "tcp", g.addr, &tls.Config{ServerName: "shop.test", InsecureSkipVerify: true})
		if err != nil {
			return err
		}
		defer c.Close()
		if names := c.ConnectionState().PeerCertificates[0].DNSNames; len(names) != 1 || names[0] != "shop.test" {
			return fmt.Errorf("served a certificate for %q", names)
		}
		return nil
	}
	var err error
	for deadline := time.Now().Add(time.Minute); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		if err = serves(); err == nil {
			break
		}
	}
	if err != nil {
		t.Fatalf("the put tenant is not served: %v\n%s", err, g.log)
	}
	if out, code := run(t, binPlain, append([]string{"tenant", "rm", "shop", "--nkey", deployer}, nats...)...); code != 0 || !strings.Contains(out, "removed tenant shop") {
		t.Fatalf("rm: exit %d\n%s", code, out)
	}
	for deadline := time.Now().Add(time.Minute); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		if err = serves(); err != nil {
			break
		}
	}
	if err == nil {
		t.Fatal("the removed tenant is still served")
	}
}
