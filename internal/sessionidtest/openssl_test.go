package sessionidtest

import (
	"context"
	"os/exec"
	"regexp"
	"strings"
	"testing"
	"time"
)

// opensslResult is what openssl s_client printed about one connection.
type opensslResult struct {
	status    string // "New" or "Reused"
	version   string // e.g. TLSv1.2
	sessionID string // upper-case hex, empty if none
	output    string
}

var (
	statusLine    = regexp.MustCompile(`(?m)^(New|Reused), (TLSv[0-9.]+), Cipher is `)
	sessionIDLine = regexp.MustCompile(`(?m)^\s*Session-ID: ([0-9A-F]*)\s*$`)
)

// sClient runs one openssl s_client connection to addr and returns what it
// printed. The session is written to, or with resume read from, sessFile.
func sClient(t *testing.T, addr, sessFile string, resume bool, args ...string) opensslResult {
	t.Helper()
	out, err := sClientOutput(t, addr, sessFile, resume, args...)
	r := opensslResult{output: out}
	if m := statusLine.FindStringSubmatch(r.output); m != nil {
		r.status, r.version = m[1], m[2]
	}
	if m := sessionIDLine.FindStringSubmatch(r.output); m != nil {
		r.sessionID = m[1]
	}
	if r.status == "" {
		t.Fatalf("openssl s_client %s: %v; no New/Reused line in:\n%s", strings.Join(args, " "), err, out)
	}
	return r
}

// sClientOutput runs openssl s_client, with stdin at EOF so that it
// disconnects after the handshake, and returns its output and exit error.
func sClientOutput(t *testing.T, addr, sessFile string, resume bool, args ...string) (string, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	all := []string{"s_client", "-connect", addr}
	all = append(all, args...)
	if resume {
		all = append(all, "-sess_in", sessFile)
	} else {
		all = append(all, "-sess_out", sessFile)
	}
	cmd := exec.CommandContext(ctx, "openssl", all...)
	cmd.Stdin = strings.NewReader("")
	out, err := cmd.CombinedOutput()
	return string(out), err
}
