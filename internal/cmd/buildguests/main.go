// Command buildguests builds every Go guest under guests/ (each directory
// with a wasip1 main package) into <out>/<dir name>.wasm, and every
// AssemblyScript guest (guests/assemblyscript/<name>/index.ts) into
// <out>/<name>-as.wasm, by default guests/prebuilt, where package prebuilt
// embeds them. AssemblyScript guests are compiled with the asc version that
// guests/sdk/assemblyscript/package-lock.json pins (npm ci installs it).
//
// Usage, from anywhere in the module:
//
//	go run ./internal/cmd/buildguests            # rebuild guests/prebuilt/*.wasm
//	go run ./internal/cmd/buildguests -check     # fail if a committed module is stale
//	go run ./internal/cmd/buildguests -out dir   # write elsewhere
//
// With -check, guests are built into a temporary directory and compared byte
// for byte with the files in -out; any difference or missing file fails with
// "guests/prebuilt/<name>.wasm is stale: run go run ./internal/cmd/buildguests".
// The bytes depend on the Go toolchain version too: build with the version CI
// uses (the one that built the committed files).
package main

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"time"

	"github.com/tlsgate/tlsgate/guests/guestbuild"
)

func main() {
	check := flag.Bool("check", false, "rebuild into a temporary directory and fail if -out differs")
	out := flag.String("out", "", "output directory (default <module root>/guests/prebuilt)")
	flag.Parse()

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	err := run(ctx, *check, *out)
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, "buildguests:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, check bool, out string) error {
	root, err := moduleRoot()
	if err != nil {
		return err
	}
	if out == "" {
		out = filepath.Join(root, "guests", "prebuilt")
	}
	dirs, err := guestbuild.FindGuests(filepath.Join(root, "guests"))
	if err != nil {
		return err
	}
	dest := out
	if check {
		tmp, err := os.MkdirTemp("", "buildguests-")
		if err != nil {
			return err
		}
		defer os.RemoveAll(tmp)
		dest = tmp
	}
	asEntries, err := guestbuild.FindAssemblyScriptGuests(filepath.Join(root, "guests", "assemblyscript"))
	if err != nil {
		return err
	}
	type job struct {
		name  string
		build func(out string) error
	}
	var jobs []job
	for _, dir := range dirs {
		jobs = append(jobs, job{filepath.Base(dir) + ".wasm", func(out string) error { return guestbuild.Build(ctx, dir, out) }})
	}
	for _, entry := range asEntries {
		jobs = append(jobs, job{filepath.Base(filepath.Dir(entry)) + "-as.wasm", func(out string) error {
			return guestbuild.BuildAssemblyScript(ctx, filepath.Join(root, guestbuild.SDKDir), entry, out)
		}})
	}
	var stale []error
	for _, j := range jobs {
		name := j.name
		start := time.Now()
		if err := j.build(filepath.Join(dest, name)); err != nil {
			return err
		}
		built, err := os.ReadFile(filepath.Join(dest, name))
		if err != nil {
			return err
		}
		fmt.Fprintf(os.Stderr, "built %s: %d bytes in %s\n", rel(root, filepath.Join(out, name)), len(built), time.Since(start).Round(time.Millisecond))
		if check {
			committed, err := os.ReadFile(filepath.Join(out, name))
			if err != nil || !bytes.Equal(built, committed) {
				stale = append(stale, fmt.Errorf("%s is stale: run go run ./internal/cmd/buildguests", rel(root, filepath.Join(out, name))))
			}
		}
	}
	return errors.Join(stale...)
}

// moduleRoot walks up from the working directory to the directory holding go.mod.
func moduleRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("no go.mod found above the working directory")
		}
		dir = parent
	}
}

// rel shortens path to be relative to root, for messages.
func rel(root, path string) string {
	if r, err := filepath.Rel(root, path); err == nil {
		return filepath.ToSlash(r)
	}
	return path
}
