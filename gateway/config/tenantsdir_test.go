package config_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tlsgate/tlsgate/gateway/config"
)

// Tenants can come from a directory of tenant documents: they join the
// file's tenants, a changed file is read again, and a bad one is refused
// naming its file and field.
func TestTenantsDir(t *testing.T) {
	dir := t.TempDir()
	tenants := filepath.Join(dir, "tenants.d")
	os.Mkdir(tenants, 0o700)
	write := func(name, body string) {
		t.Helper()
		if err := os.WriteFile(filepath.Join(tenants, name), []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	doc := "name: %s\nserver_names: [%s.test]\ncertificate: {cert_file: certs/%s.crt, key_file: certs/%s.key}\nupstream: builtin\n"
	write("shop.yaml", strings.ReplaceAll(doc, "%s", "shop"))
	write("blog.yml", strings.ReplaceAll(doc, "%s", "blog"))
	write("README.md", "not a tenant")
	file := filepath.Join(dir, "tlsgate.yaml")
	os.WriteFile(file, []byte("tenants_dir: tenants.d\ntenants:\n  - {name: web, server_names: [web.test], certificate: {self_signed: true}, upstream: builtin}\n"), 0o600)

	c, err := config.Load(config.Source{File: file})
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, tn := range c.Tenants {
		names = append(names, tn.Name)
	}
	if strings.Join(names, ",") != "web,blog,shop" {
		t.Fatalf("tenants %q, want web, then the directory's in file name order", names)
	}
	if got := c.Tenants[2].Certificate.CertFile; got != filepath.Join(tenants, "certs", "shop.crt") {
		t.Errorf("a document's relative path is %s, want it relative to the document", got)
	}

	// A changed document is read again (a new modification time).
	write("shop.yaml", strings.ReplaceAll(doc, "%s", "shop")+"session_ttl: 2h\n")
	os.Chtimes(filepath.Join(tenants, "shop.yaml"), time.Now(), time.Now().Add(time.Minute))
	if c, err = config.Load(config.Source{File: file}); err != nil {
		t.Fatal(err)
	}
	if c.Tenants[2].SessionTTL != 2*time.Hour {
		t.Errorf("the changed document was not read again: session_ttl %v", c.Tenants[2].SessionTTL)
	}

	for _, tt := range []struct{ name, body, want string }{
		{"bad field", strings.ReplaceAll(doc, "%s", "bad") + "min_version: \"1.1\"\n", "bad.yaml:5: min_version: \"1.1\" is not one of 1.2, 1.3"},
		{"clash", strings.ReplaceAll(strings.ReplaceAll(doc, "%s", "bad"), "bad.test", "web.test"), "bad.yaml: server_names[0]: \"web.test\" is also served by tenants[0].server_names[0]"},
	} {
		write("bad.yaml", tt.body)
		os.Chtimes(filepath.Join(tenants, "bad.yaml"), time.Now(), time.Now().Add(time.Hour))
		_, err := config.Load(config.Source{File: file})
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: %v, want it to say %q", tt.name, err, tt.want)
		}
	}
}
