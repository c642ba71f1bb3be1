package main

import (
	"context"
	"errors"
	"fmt"
	"os/exec"
	"strings"
)

// errUnsupportedToolchain is returned for a Go release the patch was not
// written for.
var errUnsupportedToolchain = errors.New("tlsoverlay: unsupported Go toolchain")

// supportedLines are the Go release lines the patch is maintained for: a
// version is supported if it is the line itself or the line plus ".N"
// (go1.26, go1.26.8). Within a line the patch must still apply cleanly;
// prereleases (rc, beta) and devel builds are refused.
var supportedLines = []string{"go1.26"}

// toolchain is what the go command reports about itself.
type toolchain struct {
	version string // GOVERSION, e.g. go1.26.8
	goroot  string // GOROOT
}

// lookupToolchain asks goCmd for its GOVERSION and GOROOT: the toolchain that
// go build will use, which may differ from the one running this program
// (GOTOOLCHAIN).
func lookupToolchain(ctx context.Context, goCmd string) (toolchain, error) {
	cmd := exec.CommandContext(ctx, goCmd, "env", "GOVERSION", "GOROOT")
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return toolchain{}, fmt.Errorf("tlsoverlay: %s env: %w: %s", goCmd, err, strings.TrimSpace(stderr.String()))
	}
	lines := strings.Split(strings.TrimSpace(string(out)), "\n")
	if len(lines) != 2 || lines[0] == "" || lines[1] == "" {
		return toolchain{}, fmt.Errorf("tlsoverlay: %s env printed %q, want GOVERSION and GOROOT", goCmd, out)
	}
	return toolchain{version: strings.TrimSpace(lines[0]), goroot: strings.TrimSpace(lines[1])}, nil
}

// checkSupported returns errUnsupportedToolchain, with what to do, unless the
// version is in supportedReleases.
func (tc toolchain) checkSupported() error {
	for _, line := range supportedLines {
		patch, ok := strings.CutPrefix(tc.version, line)
		if ok && (patch == "" || isPatchRelease(patch)) {
			return nil
		}
	}
	return fmt.Errorf("%w: %s (GOROOT %s); the crypto/tls Session ID patch supports %s.x. "+
		"Use a supported toolchain, build without the patch (make build-plain), "+
		"or port the patch as described in docs/session-id.md",
		errUnsupportedToolchain, tc.version, tc.goroot, strings.Join(supportedLines, ".x, "))
}

// isPatchRelease reports whether s is "." followed by decimal digits.
func isPatchRelease(s string) bool {
	digits, ok := strings.CutPrefix(s, ".")
	if !ok || digits == "" {
		return false
	}
	for _, r := range digits {
		if r < '0' || r > '9' {
			return false
		}
	}
	return true
}
