//go:build tlsgate_sessionid

package sessionidtest

import (
	"crypto/tls"
	"encoding/hex"
	"path/filepath"
	"strings"
	"testing"
)

// Config.NewSessionID chooses the Session ID a full handshake assigns: it is
// what the client sees, what the store gets, and what resumes.
func TestNewSessionIDChoosesTheID(t *testing.T) {
	cache := newSessionCache()
	id := []byte("tlsgate-chosen-session-id-000001") // 32 bytes
	cfg := cache.install(&tls.Config{MinVersion: tls.VersionTLS12})
	cfg.NewSessionID = func() ([]byte, error) { return append([]byte(nil), id...), nil }
	srv := startServer(t, cfg)
	sess := filepath.Join(t.TempDir(), "session.pem")
	first := sClient(t, srv.addr, sess, false, "-tls1_2", "-no_ticket")
	if want := strings.ToUpper(hex.EncodeToString(id)); first.sessionID != want {
		t.Fatalf("Session-ID %q, want the one NewSessionID chose (%s)", first.sessionID, want)
	}
	if !storedID(cache, first.sessionID) {
		t.Fatal("the chosen Session ID was not the one stored")
	}
	if second := sClient(t, srv.addr, sess, true, "-tls1_2", "-no_ticket"); second.status != "Reused" {
		t.Fatalf("second connection: %s, want Reused", second.status)
	}
}

func TestNewSessionIDOfWrongLengthFailsHandshake(t *testing.T) {
	for _, n := range []int{0, 33} {
		cache := newSessionCache()
		cfg := cache.install(&tls.Config{MinVersion: tls.VersionTLS12})
		cfg.NewSessionID = func() ([]byte, error) { return make([]byte, n), nil }
		srv := startServer(t, cfg)
		out, err := sClientOutput(t, srv.addr, filepath.Join(t.TempDir(), "s.pem"), false, "-tls1_2", "-no_ticket")
		got := srv.nth(t, 0)
		if got.err == nil || !strings.Contains(got.err.Error(), "want 1 to 32") {
			t.Fatalf("%d-byte ID: server handshake error = %v", n, got.err)
		}
		if err == nil || !strings.Contains(out, "alert internal error") {
			t.Errorf("%d-byte ID: openssl exit %v, want an internal_error alert", n, err)
		}
	}
}
