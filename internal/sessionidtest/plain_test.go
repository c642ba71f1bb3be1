//go:build !tlsgate_sessionid

package sessionidtest

import (
	"crypto/tls"
	"os"
	"path/filepath"
	"testing"
)

// TestUnpatchedServerDoesNotResumeBySessionID shows the problem the patch
// solves: a stock crypto/tls server sends an empty Session ID, so a client
// without tickets has nothing to resume and starts a new session every time.
// It reports what openssl saw rather than failing, since this is Go's
// documented behaviour, not tlsgate's.
func TestUnpatchedServerDoesNotResumeBySessionID(t *testing.T) {
	srv := startServer(t, &tls.Config{MinVersion: tls.VersionTLS12})
	args := []string{"-tls1_2", "-no_ticket"}
	sess := filepath.Join(t.TempDir(), "session.pem")

	first := sClient(t, srv.addr, sess, false, args...)
	t.Logf("unpatched crypto/tls, openssl s_client -tls1_2 -no_ticket: first connection %s, Session-ID %q",
		first.status, first.sessionID)
	if _, err := os.Stat(sess); err != nil {
		// openssl writes no -sess_out for a session it cannot resume.
		second := sClient(t, srv.addr, sess, false, args...)
		t.Logf("openssl saved no session to offer (%v); second connection %s", err, second.status)
		return
	}
	second := sClient(t, srv.addr, sess, true, args...)
	t.Logf("second connection offering the first session: %s", second.status)
	if second.status != "New" {
		t.Logf("unexpected: the unpatched server resumed (%s); is GOROOT's crypto/tls already patched?", second.status)
	}
}
