package guestbuild

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
)

// ASFlags are asc's flags for an AssemblyScript guest. --runtime stub has no
// garbage collector (a guest reuses its buffers; see the SDK's README), -O3
// --noAssert optimise, and --use abort= turns an abort into a trap instead
// of an import from "env", which the ABI does not allow.
var ASFlags = []string{"--runtime", "stub", "-O3", "--noAssert", "--use", "abort=", "--noColors"}

// SDKDir is the AssemblyScript SDK's directory relative to the repository
// root: its package.json pins the compiler, and its node_modules holds it.
const SDKDir = "guests/sdk/assemblyscript"

// ASCompiler returns the path of asc in the SDK at sdkDir, first installing
// the SDK's pinned dependencies with "npm ci" when they are missing (needs
// node and npm on the PATH, and the npm registry). Concurrent callers, test
// binaries of several packages say, install once: they hold a lock file in
// sdkDir meanwhile.
func ASCompiler(ctx context.Context, sdkDir string) (string, error) {
	dir, err := filepath.Abs(sdkDir)
	if err != nil {
		return "", fmt.Errorf("guestbuild: %w", err)
	}
	asc := filepath.Join(dir, "node_modules", "assemblyscript", "bin", "asc.js")
	if _, err := os.Stat(asc); err == nil {
		return asc, nil
	}
	if _, err := exec.LookPath("npm"); err != nil {
		return "", fmt.Errorf("guestbuild: AssemblyScript guests need node and npm (apt-get install nodejs npm): %w", err)
	}
	lock, err := os.OpenFile(filepath.Join(dir, ".npm-install.lock"), os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		return "", fmt.Errorf("guestbuild: %w", err)
	}
	defer lock.Close()
	if err := lockFile(lock); err != nil {
		return "", fmt.Errorf("guestbuild: lock %s: %w", lock.Name(), err)
	}
	defer unlockFile(lock)
	if _, err := os.Stat(asc); err == nil { // another process installed it meanwhile
		return asc, nil
	}
	cmd := exec.CommandContext(ctx, "npm", "ci", "--no-audit", "--no-fund", "--loglevel=error")
	cmd.Dir = dir
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("guestbuild: npm ci in %s: %w\n%s", sdkDir, err, strings.TrimSpace(out.String()))
	}
	if _, err := os.Stat(asc); err != nil {
		return "", fmt.Errorf("guestbuild: npm ci in %s installed no asc: %w", sdkDir, err)
	}
	return asc, nil
}

// BuildAssemblyScript compiles the AssemblyScript guest whose entry file is
// entry (its index.ts) to outFile with [ASFlags], using the compiler the SDK
// at sdkDir pins. The bytes depend only on the sources and that version.
func BuildAssemblyScript(ctx context.Context, sdkDir, entry, outFile string) error {
	asc, err := ASCompiler(ctx, sdkDir)
	if err != nil {
		return err
	}
	src, out, err := absPaths(entry, outFile)
	if err != nil {
		return err
	}
	// asc names sources relative to its working directory in what it
	// reports; run it beside the entry so that no absolute path is used.
	args := append([]string{asc, filepath.Base(src), "-o", out}, ASFlags...)
	cmd := exec.CommandContext(ctx, "node", args...)
	cmd.Dir = filepath.Dir(src)
	var msg bytes.Buffer
	cmd.Stdout, cmd.Stderr = &msg, &msg
	if err := cmd.Run(); err != nil {
		if ctxErr := ctx.Err(); ctxErr != nil {
			err = ctxErr
		}
		return fmt.Errorf("guestbuild: asc %s: %w\n%s", entry, err, strings.TrimSpace(msg.String()))
	}
	if _, err := os.Stat(out); err != nil {
		return fmt.Errorf("guestbuild: asc %s wrote nothing: %w\n%s", entry, err, strings.TrimSpace(msg.String()))
	}
	return nil
}

// FindAssemblyScriptGuests returns the entry files (index.ts) of the
// AssemblyScript guests under root: each directory directly below it that
// holds an index.ts, sorted.
func FindAssemblyScriptGuests(root string) ([]string, error) {
	entries, err := filepath.Glob(filepath.Join(root, "*", "index.ts"))
	if err != nil {
		return nil, fmt.Errorf("guestbuild: %w", err)
	}
	if len(entries) == 0 {
		return nil, fmt.Errorf("%w under %s", errNoASGuests, root)
	}
	return entries, nil
}

var errNoASGuests = errors.New("guestbuild: no AssemblyScript guests (*/index.ts) found")
