package main

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

func run(t *testing.T, bin string, args ...string) (string, int) {
	t.Helper()
	out, err := exec.Command(bin, args...).CombinedOutput()
	var ee *exec.ExitError
	switch {
	case err == nil:
		return string(out), 0
	case errors.As(err, &ee):
		return string(out), ee.ExitCode()
	default:
		t.Fatal(err)
		return "", -1
	}
}

func TestVersionSaysWhetherSessionIDIsCompiledIn(t *testing.T) {
	tests := []struct {
		name, bin, want string
	}{
		{"plain build", binPlain, "tls 1.2 session-id resumption: no"},
		{"make build", binPatched, "tls 1.2 session-id resumption: yes"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out, code := run(t, tt.bin, "version")
			if code != 0 || !strings.Contains(out, tt.want) || !strings.Contains(out, "guest abi: v1") {
				t.Fatalf("exit %d, output:\n%s", code, out)
			}
		})
	}
}

func TestCheck(t *testing.T) {
	dir := t.TempDir()
	write := func(name, body string) string {
		p := filepath.Join(dir, name)
		os.WriteFile(p, []byte(body), 0o600)
		return p
	}
	notWasm := write("not.wasm", "hello")
	tests := []struct {
		name     string
		config   string
		wantCode int
		want     string
	}{
		{"valid", "tenants:\n  - {name: a, server_names: [a.test], certificate: {self_signed: true}, upstream: builtin, guest: {module: \"builtin:sessioncache\"}}\n",
			0, "guest builtin:sessioncache loaded"},
		{"field path error", "tenants:\n  - {name: a, server_names: [a.test], certificate: {self_signed: true}, upstream: \"ftp://x\"}\n",
			2, `tenants[0].upstream: scheme "ftp" is not supported`},
		{"guest that is not wasm", "tenants:\n  - {name: a, server_names: [a.test], certificate: {self_signed: true}, upstream: builtin, guest: {module: " + notWasm + "}}\n",
			2, "tenants[0].guest.module"},
		{"guest with wrong marker", "tenants:\n  - {name: a, server_names: [a.test], certificate: {self_signed: true}, upstream: builtin, guest: {module: ../../wasmhost/wasmhosttest/testdata/marker_signature.wasm}}\n",
			2, "tlsgate_abi_v1"},
		{"yaml syntax", "tenants: [\n", 2, "tlsgate.yaml"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfgDir := t.TempDir()
			cfg := filepath.Join(cfgDir, "tlsgate.yaml")
			body := strings.ReplaceAll(tt.config, "../../wasmhost", mustAbs(t, "../../wasmhost"))
			os.WriteFile(cfg, []byte(body), 0o600)
			out, code := run(t, binPlain, "check", "--config", cfg, "--data-dir", t.TempDir())
			if code != tt.wantCode || !strings.Contains(out, tt.want) {
				t.Fatalf("exit %d (want %d), output:\n%s\nwant it to contain %q", code, tt.wantCode, out, tt.want)
			}
		})
	}
}

func mustAbs(t *testing.T, p string) string {
	a, err := filepath.Abs(p)
	if err != nil {
		t.Fatal(err)
	}
	return a
}

func TestServeRefusesInvalidConfigWithExit2(t *testing.T) {
	cfg := filepath.Join(t.TempDir(), "tlsgate.yaml")
	os.WriteFile(cfg, []byte("tenants:\n  - {name: \"bad name\", server_names: [a.test], certificate: {self_signed: true}, upstream: builtin}\n"), 0o600)
	out, code := run(t, binPlain, "serve", "--config", cfg, "--data-dir", t.TempDir())
	if code != 2 || !strings.Contains(out, `tenants[0].name: "bad name" must be 1-64 of [A-Za-z0-9_-]`) {
		t.Fatalf("exit %d, output:\n%s", code, out)
	}
}
