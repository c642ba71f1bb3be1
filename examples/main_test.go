package examples_test

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"
)

// Built once by TestMain, used by every test.
var (
	// tlsgateBin is the gateway binary built from ./cmd/tlsgate.
	tlsgateBin string
	// echoBin is the multi-tenant example's TCP echo upstream.
	echoBin string
	// wasmCacheDir is a wazero compilation cache shared by every gateway
	// the tests start, so each guest is compiled once per run.
	wasmCacheDir string
)

func TestMain(m *testing.M) {
	os.Exit(run(m))
}

func run(m *testing.M) int {
	dir, err := os.MkdirTemp("", "tlsgate-examples-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer os.RemoveAll(dir)
	tlsgateBin = filepath.Join(dir, "tlsgate")
	echoBin = filepath.Join(dir, "echo")
	wasmCacheDir = filepath.Join(dir, "wasm-cache")
	// Every tlsgate the tests run (serve and check) inherits this.
	if err := os.Setenv("TLSGATE_WASM__CACHE_DIR", wasmCacheDir); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	for pkg, out := range map[string]string{"./cmd/tlsgate": tlsgateBin, "./examples/multi-tenant/echo": echoBin} {
		if err := goBuild(pkg, out); err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
	}
	return m.Run()
}

// goBuild builds pkg (a path relative to the module root) into out.
func goBuild(pkg, out string) error {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "go", "build", "-o", out, pkg)
	cmd.Dir = ".."
	if b, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("go build %s: %w\n%s", pkg, err, b)
	}
	return nil
}
