//go:build tlsgate_sessionid

package sessionidtest

import (
	"crypto/tls"
	"encoding/hex"
	"errors"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// clock is a server clock a test can move forward.
type clock struct{ offset atomic.Int64 }

func (c *clock) now() time.Time                      { return time.Now().Add(time.Duration(c.offset.Load())) }
func (c *clock) advance(d time.Duration)             { c.offset.Add(int64(d)) }
func (c *clock) install(cfg *tls.Config) *tls.Config { cfg.Time = c.now; return cfg }

func TestOpenSSLResumesBySessionID(t *testing.T) {
	tests := []struct {
		name string
		// server adjusts the server's config.
		server func(cfg *tls.Config)
		// args are openssl s_client's options for both connections;
		// secondArgs, when set, replace them for the second.
		args, secondArgs []string
		// between runs after the first connection.
		between    func(c *sessionCache, clk *clock)
		wantSecond string // openssl's verdict on the second connection; "" for any
		wantStores int    // StoreSessionByID calls after both connections
		wantHits   int    // GetSessionByID calls that found a session
		wantByID   bool   // the first session has a 32-byte Session ID that was stored
	}{
		{
			name:       "client without tickets resumes by Session ID",
			args:       []string{"-tls1_2", "-no_ticket"},
			wantSecond: "Reused", wantStores: 1, wantHits: 1, wantByID: true,
		},
		{
			name:       "server with tickets disabled resumes a ticket-capable client by Session ID",
			server:     func(cfg *tls.Config) { cfg.SessionTicketsDisabled = true },
			args:       []string{"-tls1_2"},
			wantSecond: "Reused", wantStores: 1, wantHits: 1, wantByID: true,
		},
		{
			name:       "client offering tickets resumes by ticket, hooks unused",
			args:       []string{"-tls1_2"},
			wantSecond: "Reused", wantStores: 0, wantHits: 0,
		},
		{
			name:       "TLS 1.3 is untouched",
			args:       []string{"-tls1_3", "-no_ticket"},
			wantStores: 0, wantHits: 0,
		},
		{
			name:       "unknown Session ID gives a full handshake and a new session",
			args:       []string{"-tls1_2", "-no_ticket"},
			between:    func(c *sessionCache, _ *clock) { c.clear() },
			wantSecond: "New", wantStores: 2, wantHits: 0, wantByID: true,
		},
		{
			name:       "session past its lifetime is not resumed",
			args:       []string{"-tls1_2", "-no_ticket"},
			between:    func(_ *sessionCache, clk *clock) { clk.advance(8 * 24 * time.Hour) },
			wantSecond: "New", wantStores: 2, wantHits: 1, wantByID: true,
		},
		{
			name:       "session whose cipher suite the client no longer offers is not resumed",
			args:       []string{"-tls1_2", "-no_ticket", "-cipher", "ECDHE-ECDSA-AES128-GCM-SHA256"},
			secondArgs: []string{"-tls1_2", "-no_ticket", "-cipher", "ECDHE-ECDSA-AES256-GCM-SHA384"},
			wantSecond: "New", wantStores: 2, wantHits: 1, wantByID: true,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cache := newSessionCache()
			var clk clock
			cfg := clk.install(cache.install(&tls.Config{MinVersion: tls.VersionTLS12}))
			if tt.server != nil {
				tt.server(cfg)
			}
			srv := startServer(t, cfg)
			sess := filepath.Join(t.TempDir(), "session.pem")

			first := sClient(t, srv.addr, sess, false, tt.args...)
			if first.status != "New" {
				t.Fatalf("first connection: openssl says %s, want New:\n%s", first.status, first.output)
			}
			if tt.wantByID {
				if len(first.sessionID) != 64 {
					t.Errorf("first Session-ID %q, want 32 bytes in hex", first.sessionID)
				}
				if !storedID(cache, first.sessionID) {
					t.Errorf("Session-ID %s that openssl saw is not the one stored", first.sessionID)
				}
			}
			if tt.between != nil {
				tt.between(cache, &clk)
			}
			secondArgs := tt.args
			if tt.secondArgs != nil {
				secondArgs = tt.secondArgs
			}
			second := sClient(t, srv.addr, sess, true, secondArgs...)
			gets, hits, stores := cache.counts()
			t.Logf("openssl: first %s %s Session-ID %s; second %s; hooks: %d gets, %d hits, %d stores",
				first.status, first.version, first.sessionID, second.status, gets, hits, stores)

			if tt.wantSecond != "" {
				if second.status != tt.wantSecond {
					t.Errorf("second connection: openssl says %s, want %s:\n%s", second.status, tt.wantSecond, second.output)
				}
				if got := srv.nth(t, 1); got.err != nil || got.didResume != (tt.wantSecond == "Reused") {
					t.Errorf("server saw second handshake resumed=%v err=%v, want resumed=%v", got.didResume, got.err, tt.wantSecond == "Reused")
				}
			}
			if !tt.wantByID && gets != 0 {
				t.Errorf("GetSessionByID called %d times, want never", gets)
			}
			if stores != tt.wantStores || hits != tt.wantHits {
				t.Errorf("hooks: %d stores and %d hits, want %d and %d", stores, hits, tt.wantStores, tt.wantHits)
			}
			if tt.wantSecond == "Reused" && tt.wantByID && second.sessionID != first.sessionID {
				t.Errorf("resumed Session-ID %s, want the first one echoed, %s", second.sessionID, first.sessionID)
			}
		})
	}
}

// storedID reports whether the cache holds the upper-case hex Session ID.
func storedID(c *sessionCache, hexID string) bool {
	for _, id := range c.ids() {
		if strings.EqualFold(hex.EncodeToString(id), hexID) {
			return true
		}
	}
	return false
}

func TestStoreSessionByIDErrorFailsHandshake(t *testing.T) {
	cache := newSessionCache()
	cache.storeErr = errors.New("store down")
	srv := startServer(t, cache.install(&tls.Config{MinVersion: tls.VersionTLS12}))
	sess := filepath.Join(t.TempDir(), "session.pem")

	out, err := sClientOutput(t, srv.addr, sess, false, "-tls1_2", "-no_ticket")
	got := srv.nth(t, 0)
	if got.err == nil || !strings.Contains(got.err.Error(), "store down") {
		t.Fatalf("server handshake error = %v, want the store's error", got.err)
	}
	if err == nil || !strings.Contains(out, "alert internal error") {
		t.Errorf("openssl exit %v, want a failure with an internal_error alert:\n%s", err, out)
	}
	t.Logf("openssl (%v) received an internal_error alert; server: %v", err, got.err)
}
