package main

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
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

// TestCheckReportsEveryProblemAtOnce: a file with an unknown key, a
// duration without a unit, a certificate that does not load and an ftp
// upstream gets all four from one check, each with its line, in line
// order, and the key's likely intended name; a YAML syntax error names the
// line it is on.
func TestCheckReportsEveryProblemAtOnce(t *testing.T) {
	cfg := filepath.Join(t.TempDir(), "b1.yaml")
	os.WriteFile(cfg, []byte(`listeners:
  - address: 127.0.0.1:8443
tenants:
  - name: a
    server_names: [a.test]
    certificate: {self_signed: true}
    upstream: builtin
    session_ttl: 24
  - name: b
    server_name: [b.test]
    certificate: {cert_file: /nonexistent.crt, key_file: /nonexistent.key}
    upstream: ftp://x
`), 0o600)
	out, code := run(t, binPlain, "check", "--config", cfg, "--data-dir", t.TempDir())
	want := []string{
		cfg + ":8: tenants[0].session_ttl: 24 is a number without a unit",
		cfg + ":10: tenants[1].server_name: unknown key; did you mean server_names?",
		cfg + ":11: tenants[1].certificate: open /nonexistent.crt: no such file or directory",
		cfg + `:12: tenants[1].upstream: scheme "ftp" is not supported`,
	}
	last := -1
	for _, w := range want {
		i := strings.Index(out, w)
		if i < 0 || i < last {
			t.Errorf("exit %d, output:\n%s\nwant, after the lines before it: %q", code, out, w)
		}
		last = i
	}
	if code != 2 || strings.Contains(out, "decoding failed") {
		t.Errorf("exit %d (want 2), output:\n%s", code, out)
	}

	syntax := filepath.Join(t.TempDir(), "b2.yaml")
	os.WriteFile(syntax, []byte("tenants:\n  - name: a\n    server_names: [a.test\n    upstream: builtin\n"), 0o600)
	out, code = run(t, binPlain, "check", "--config", syntax)
	if code != 2 || !strings.Contains(out, syntax+":4:5: ',' or ']' must be specified") || !strings.Contains(out, ">  4 |     upstream: builtin") {
		t.Errorf("yaml syntax error: exit %d, output:\n%s", code, out)
	}
}

// TestCommandLine: --version, exit code 2 for usage errors, check offers
// no serve-only flags, booleans render as plain flags, and the help names
// the TLSGATE_ environment variables.
func TestCommandLine(t *testing.T) {
	if out, code := run(t, binPlain, "--version"); code != 0 || !strings.HasPrefix(out, "tlsgate ") {
		t.Errorf("--version: exit %d, %q", code, out)
	}
	for _, args := range [][]string{{"serve", "--bogus"}, {"nosuch"}, {"check", "extra"}, {"guest", "push"}} {
		if out, code := run(t, binPlain, args...); code != 2 {
			t.Errorf("%v: exit %d (want 2): %s", args, code, out)
		}
	}
	out, _ := run(t, binPlain, "check", "--help")
	if strings.Contains(out, "--listen") || strings.Contains(out, "--log-level") || strings.Contains(out, "[=true|false]") {
		t.Errorf("check --help:\n%s", out)
	}
	if out, _ := run(t, binPlain, "serve", "--help"); !strings.Contains(out, "--log-format") {
		t.Errorf("serve --help lacks --log-format:\n%s", out)
	}
	if out, _ := run(t, binPlain, "--help"); !strings.Contains(out, "TLSGATE_ADMIN__ADDRESS") || !strings.Contains(out, "Exit codes") {
		t.Errorf("tlsgate --help does not explain the environment and exit codes:\n%s", out)
	}
}

// TestInterruptFlushesNATS: a gateway stopped with Ctrl-C (SIGINT) shuts
// NATS's file store down cleanly, so the next start on the same data dir
// has nothing to recover (a killed one makes nats-server rebuild its TTL
// state with a linear scan, and warn). Its start-up says what it runs.
func TestInterruptFlushesNATS(t *testing.T) {
	dir := t.TempDir()
	g := startGW(t, gwOpts{bin: binPlain, noConfig: true, dataDir: dir})
	if !strings.Contains(g.log.String(), `msg="tlsgate starting"`) || !strings.Contains(g.log.String(), "data_dir="+dir) ||
		!strings.Contains(g.log.String(), "sealing key generated") {
		t.Errorf("the start-up log does not say what runs where:\n%s", g.log)
	}
	g.cmd.Process.Signal(syscall.SIGINT)
	if err := g.cmd.Wait(); err != nil {
		t.Fatalf("tlsgate exited with %v after SIGINT; log:\n%s", err, g.log)
	}
	again := startGW(t, gwOpts{bin: binPlain, noConfig: true, dataDir: dir})
	again.stop(t)
	if strings.Contains(again.log.String(), "linear scan") || strings.Contains(again.log.String(), "level=WARN") {
		t.Errorf("the start after SIGINT recovered or warned:\n%s", again.log)
	}
}
