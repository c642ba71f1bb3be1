package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"
)

// shippedPatch is the repository's patch, relative to this package.
const shippedPatch = "../../../patches/crypto-tls-sessionid.patch"

// realGOROOT is the GOROOT of the go command on PATH.
func realGOROOT(t *testing.T) string {
	t.Helper()
	out, err := exec.Command("go", "env", "GOROOT").Output()
	if err != nil {
		t.Fatalf("go env GOROOT: %v", err)
	}
	return strings.TrimSpace(string(out))
}

// fakeGo writes a go command that reports version and goroot.
func fakeGo(t *testing.T, version, goroot string) string {
	t.Helper()
	if runtime.GOOS == "windows" {
		t.Fatal("fakeGo needs a POSIX shell")
	}
	file := filepath.Join(t.TempDir(), "go")
	script := fmt.Sprintf("#!/bin/sh\nprintf '%%s\\n%%s\\n' %q %q\n", version, goroot)
	if err := os.WriteFile(file, []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	return file
}

// fakeGOROOT copies the patched files of the real GOROOT, passing each
// through edit, so a test can play a toolchain whose crypto/tls changed.
func fakeGOROOT(t *testing.T, edit func(name, text string) string) string {
	t.Helper()
	root := t.TempDir()
	dir := filepath.Join(root, "src", "crypto", "tls")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"common.go", "handshake_server.go", "tls_test.go"} {
		data, err := os.ReadFile(filepath.Join(realGOROOT(t), "src", "crypto", "tls", name))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, name), []byte(edit(name, string(data))), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return root
}

func readOverlay(t *testing.T, out string) map[string]string {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(out, overlayFile))
	if err != nil {
		t.Fatal(err)
	}
	var o struct{ Replace map[string]string }
	if err := json.Unmarshal(data, &o); err != nil {
		t.Fatal(err)
	}
	return o.Replace
}

func TestRun(t *testing.T) {
	unchanged := func(name, text string) string { return text }
	// shifted inserts lines above every hunk of handshake_server.go.
	shifted := func(name, text string) string {
		if name != "handshake_server.go" {
			return text
		}
		return strings.Replace(text, "package tls\n", "package tls\n\n// one\n// two\n// three\n", 1)
	}
	// rewritten changes a context line of a hunk.
	rewritten := func(name, text string) string {
		if name != "handshake_server.go" {
			return text
		}
		return strings.Replace(text, "\tif c.config.SessionTicketsDisabled {\n\t\treturn nil", "\tif c.config.SessionTicketsDisabled || c.vers < VersionTLS12 {\n\t\treturn nil", 1)
	}
	tests := []struct {
		name        string
		version     string
		edit        func(name, text string) string // nil: the real GOROOT
		args        []string
		wantErr     error
		wantWarning string
	}{
		{name: "installed toolchain"},
		{name: "supported toolchain, same files", version: "go1.26.8", edit: unchanged},
		{name: "unsupported toolchain", version: "go1.27.0", edit: unchanged, wantErr: errUnsupportedToolchain},
		{name: "files moved, offsets refused", version: "go1.26.9", edit: shifted, wantErr: errPatchNotClean},
		{name: "files moved, offsets allowed", version: "go1.26.9", edit: shifted, args: []string{"-allow-offset"}, wantWarning: "offset 4 lines"},
		{name: "patched code changed", version: "go1.26.9", edit: rewritten, args: []string{"-allow-offset"}, wantErr: errPatchNotClean},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			goroot := realGOROOT(t)
			if tt.edit != nil {
				goroot = fakeGOROOT(t, tt.edit)
			}
			out := filepath.Join(t.TempDir(), "overlay")
			goCmd := "go" // the installed toolchain, as make runs it
			if tt.edit != nil {
				goCmd = fakeGo(t, tt.version, goroot)
			}
			args := append([]string{"-out", out, "-patch", shippedPatch, "-go", goCmd}, tt.args...)
			var stdout, stderr bytes.Buffer
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			err := run(ctx, args, &stdout, &stderr)
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("run() error = %v, want %v", err, tt.wantErr)
			}
			if err != nil {
				t.Logf("the user sees: %v", err)
				if _, statErr := os.Stat(out); statErr == nil {
					t.Fatalf("failed run left %s behind", out)
				}
				return
			}
			if !strings.Contains(stderr.String(), tt.wantWarning) {
				t.Fatalf("stderr %q does not contain %q", stderr.String(), tt.wantWarning)
			}
			replace := readOverlay(t, out)
			if len(replace) != 4 {
				t.Fatalf("overlay replaces %d files, want 4: %v", len(replace), replace)
			}
			for from, to := range replace {
				if filepath.Dir(from) != filepath.Join(goroot, "src", "crypto", "tls") {
					t.Errorf("overlay replaces %s, outside GOROOT's crypto/tls", from)
				}
				if _, err := os.Stat(to); err != nil {
					t.Errorf("overlay target: %v", err)
				}
			}
			common, err := os.ReadFile(filepath.Join(out, "src", "crypto", "tls", "common.go"))
			if err != nil {
				t.Fatal(err)
			}
			for _, field := range []string{
				"GetSessionByID func(sessionID []byte, cs ConnectionState) (*SessionState, error)",
				"StoreSessionByID func(sessionID []byte, ss *SessionState, cs ConnectionState) error",
			} {
				if !bytes.Contains(common, []byte(field)) {
					t.Errorf("patched common.go lacks %q", field)
				}
			}
			leftovers, _ := filepath.Glob(filepath.Join(out, "src", "crypto", "tls", "*.orig"))
			if len(leftovers) != 0 {
				t.Errorf("patch backups left in the overlay: %v", leftovers)
			}
		})
	}
}

func TestRunReplacesOnlyItsOwnOutput(t *testing.T) {
	goFake := fakeGo(t, "go1.26.8", realGOROOT(t))
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	out := filepath.Join(t.TempDir(), "overlay")
	args := []string{"-out", out, "-patch", shippedPatch, "-go", goFake}
	for i := range 2 {
		if err := run(ctx, args, &bytes.Buffer{}, &bytes.Buffer{}); err != nil {
			t.Fatalf("run %d: %v", i+1, err)
		}
	}

	foreign := t.TempDir()
	if err := os.WriteFile(filepath.Join(foreign, "precious.txt"), []byte("keep"), 0o644); err != nil {
		t.Fatal(err)
	}
	err := run(ctx, []string{"-out", foreign, "-patch", shippedPatch, "-go", goFake}, &bytes.Buffer{}, &bytes.Buffer{})
	if err == nil || !strings.Contains(err.Error(), "refusing to replace") {
		t.Fatalf("run into a foreign directory: %v, want a refusal", err)
	}
	if _, err := os.Stat(filepath.Join(foreign, "precious.txt")); err != nil {
		t.Fatalf("foreign directory damaged: %v", err)
	}
}
