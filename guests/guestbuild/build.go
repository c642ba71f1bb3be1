// Package guestbuild builds Go guests (package main, GOOS=wasip1) into
// WebAssembly modules the same way every time, so that a committed module
// can be checked against its source. It is used by the buildguests command
// and by tests that need a guest built from source.
package guestbuild

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
)

// Flags are the go build flags of a guest, after "go build". They make a
// reactor module (-buildmode=c-shared: exports _initialize, main is not run)
// whose bytes depend only on the source and the Go toolchain version:
// -trimpath drops file system paths, -buildvcs=false drops the VCS stamp,
// -ldflags=-s -w drops the symbol table and DWARF (about 50 KB);
// -buildid= leaves out the build ID, a hash of the sources that changes with
// any comment edit, so the committed bytes change only when the code does.
var Flags = []string{"-buildmode=c-shared", "-trimpath", "-buildvcs=false", "-ldflags=-s -w -buildid="}

// Build compiles the Go guest in pkgDir (a directory holding a main package)
// to the WebAssembly module outFile, with GOOS=wasip1 GOARCH=wasm and
// [Flags]. It runs "go" from PATH (go test puts its own toolchain first on
// the PATH of tests), with an environment pinned for reproducibility: CGO_ENABLED=0, GOFLAGS, GOWASM and
// GOEXPERIMENT cleared, GOTOOLCHAIN=local. The error carries the compiler's
// output.
func Build(ctx context.Context, pkgDir, outFile string) error {
	dir, out, err := absPaths(pkgDir, outFile)
	if err != nil {
		return err
	}
	args := append([]string{"build"}, Flags...)
	args = append(args, "-o", out, ".")
	cmd := exec.CommandContext(ctx, "go", args...)
	cmd.Dir = dir
	cmd.Env = buildEnv(os.Environ())
	var stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stderr, &stderr
	if err := cmd.Run(); err != nil {
		msg := strings.TrimSpace(stderr.String())
		if ctxErr := ctx.Err(); ctxErr != nil {
			err = ctxErr
		}
		return fmt.Errorf("guestbuild: go build %s: %w\n%s", pkgDir, err, msg)
	}
	return nil
}

// pinned are the variables Build sets; any inherited value is dropped.
var pinned = map[string]string{
	"GOOS":         "wasip1",
	"GOARCH":       "wasm",
	"CGO_ENABLED":  "0",
	"GOFLAGS":      "",
	"GOWASM":       "",
	"GOEXPERIMENT": "",
	"GOTOOLCHAIN":  "local",
}

func buildEnv(environ []string) []string {
	env := make([]string, 0, len(environ)+len(pinned))
	for _, kv := range environ {
		k, _, _ := strings.Cut(kv, "=")
		if _, ok := pinned[k]; !ok {
			env = append(env, kv)
		}
	}
	for k, v := range pinned {
		env = append(env, k+"="+v)
	}
	return env
}

// absPaths makes src and outFile absolute and creates outFile's directory.
func absPaths(src, outFile string) (string, string, error) {
	a, err := filepath.Abs(src)
	if err != nil {
		return "", "", fmt.Errorf("guestbuild: %w", err)
	}
	out, err := filepath.Abs(outFile)
	if err != nil {
		return "", "", fmt.Errorf("guestbuild: %w", err)
	}
	if err := os.MkdirAll(filepath.Dir(out), 0o755); err != nil {
		return "", "", fmt.Errorf("guestbuild: %w", err)
	}
	return a, out, nil
}
