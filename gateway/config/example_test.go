package config_test

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/tlsgate/tlsgate/gateway/config"
)

// A configuration that does not validate names the field path of every
// problem, all at once.
func ExampleLoad() {
	dir, _ := os.MkdirTemp("", "tlsgate-example-")
	defer os.RemoveAll(dir)
	file := filepath.Join(dir, "tlsgate.yaml")
	os.WriteFile(file, []byte(`
tenants:
  - name: shop
    server_names: [shop.example.com]
    certificate: {self_signed: true}
    upstream: ftp://files.example.com
    session_ttl: 240h
`), 0o600)
	_, err := config.Load(config.Source{File: file})
	fmt.Println(strings.ReplaceAll(err.Error(), dir+"/", ""))
	// Output:
	// tlsgate.yaml:6: tenants[0].upstream: scheme "ftp" is not supported (want http, https, tcp or builtin)
	// tlsgate.yaml:7: tenants[0].session_ttl: 240h0m0s is out of range (0, 168h]
}
