package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// The README's tour: openssl s_client -sess_out, then -sess_in, against a
// running `tlsgate serve`.
func TestOpenSSLResumes(t *testing.T) {
	if _, err := exec.LookPath("openssl"); err != nil {
		t.Fatal("openssl is needed: apt-get install openssl")
	}
	tests := []struct {
		name    string
		bin     string
		args    []string
		want    string
		comment string
	}{
		{"TLS 1.3 PSK", binPlain, []string{"-tls1_3"}, "Reused", ""},
		{"TLS 1.2 ticket", binPlain, []string{"-tls1_2"}, "Reused", ""},
		{"TLS 1.2 Session ID, plain build", binPlain, []string{"-tls1_2", "-no_ticket"}, "New",
			"without the patched crypto/tls, Session-ID-only clients pay a full handshake (as expected)"},
		{"TLS 1.3 PSK, make build", binPatched, []string{"-tls1_3"}, "Reused", ""},
		{"TLS 1.2 ticket, make build", binPatched, []string{"-tls1_2"}, "Reused", ""},
		{"TLS 1.2 Session ID, make build", binPatched, []string{"-tls1_2", "-no_ticket"}, "Reused", ""},
	}
	gws := map[string]*gw{binPlain: startGW(t, gwOpts{bin: binPlain}), binPatched: startGW(t, gwOpts{bin: binPatched})}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			g := gws[tt.bin]
			got := resumeWithOpenSSL(t, g, g, "a.test", tt.args...)
			if got != tt.want {
				t.Fatalf("second connection: %s, want %s", got, tt.want)
			}
			if tt.comment != "" {
				t.Log(tt.comment)
			}
		})
	}
}

// With no config at all, serve runs the embedded default; its sealing key
// is generated once (mode 0600) so a restart keeps sessions resumable.
func TestDefaultServeSurvivesRestart(t *testing.T) {
	dataDir := t.TempDir()
	addr := freeAddr(t)
	g := startGW(t, gwOpts{bin: binPlain, noConfig: true, dataDir: dataDir, addr: addr})
	sess := filepath.Join(t.TempDir(), "sess.pem")
	if got := sClient(t, g.addr, "localhost", sess, false, "-tls1_3"); got != "New" {
		t.Fatal(got)
	}
	out, err := exec.Command("curl", "-sk", "--http2", "--max-time", "10", "--resolve", "localhost:"+port(addr)+":127.0.0.1",
		"https://localhost:"+port(addr)+"/").CombinedOutput()
	if err != nil || !strings.Contains(string(out), "HTTP/2.0") {
		t.Fatalf("curl --http2: %v\n%s", err, out)
	}
	g.stop(t)
	st, err := os.Stat(filepath.Join(dataDir, "sealing-keys.yaml"))
	if err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("sealing key file: %v, mode %v, want 0600", err, st.Mode())
	}
	g2 := startGW(t, gwOpts{bin: binPlain, noConfig: true, dataDir: dataDir, addr: addr})
	if got := sClient(t, g2.addr, "localhost", sess, true, "-tls1_3"); got != "Reused" {
		t.Fatalf("after a restart: %s, want Reused", got)
	}
}

func port(addr string) string { return addr[strings.LastIndex(addr, ":")+1:] }
