package gateway

import (
	"crypto/tls"
	"errors"
	"fmt"
	"strings"
	"testing"
)

func TestCheckSNI(t *testing.T) {
	tests := []struct {
		name string
		sni  string
		ok   bool
	}{
		{"empty: the default tenant", "", true},
		{"host name", "a.example.com", true},
		{"upper case and underscore", "A_b.Example.COM", true},
		{"one label", "localhost", true},
		{"IPv4 as a name", "127.0.0.1", true},
		{"longest name", strings.Repeat(strings.Repeat("a", 63)+".", 3) + strings.Repeat("a", 61), true},
		{"too long", strings.Repeat("a.", 127), false},
		{"NUL byte", "a\x00.test", false},
		{"0xff byte", "a\xff.test", false},
		{"space", "a b.test", false},
		{"empty label", "a..test", false},
		{"leading dot", ".a.test", false},
		{"label over 63", strings.Repeat("a", 64) + ".test", false},
		{"IPv6", "::1", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := checkSNI(tt.sni)
			if (err == nil) != tt.ok {
				t.Fatalf("checkSNI(%q) = %v, want ok %v", tt.sni, err, tt.ok)
			}
			if err != nil && !errors.Is(err, errBadSNI) {
				t.Errorf("error %v does not wrap errBadSNI", err)
			}
		})
	}
}

// A ClientHello whose server name is no host name is refused before any
// tenant or guest sees it, and counted.
func TestBadSNIIsRefusedAndCounted(t *testing.T) {
	g := startGateway(t, testConfig(t, cacheTenant("a", "a.test")))
	for _, sni := range []string{strings.Repeat("a", 300), "a\x00.test"} {
		if _, err := tryDial(g.addr(), clientOpts{sni: sni, version: tls.VersionTLS13}); err == nil {
			t.Errorf("a handshake with SNI %q succeeded", sni)
		}
	}
	if _, err := tryDial(g.addr(), clientOpts{sni: "nobody.test", version: tls.VersionTLS13}); err == nil {
		t.Error("a handshake for a name no tenant serves (and no default) succeeded")
	}
	// Counted once the server's side of the handshake has ended, which may
	// be after the client saw the alert.
	eventually(t, "the refused handshakes to be counted", func() error {
		for reason, want := range map[string]float64{"bad_sni": 2, "unknown_sni": 1} {
			if got := counterValue(t, g, "tlsgate_handshakes_unrouted_total", "reason", reason); got != want {
				return fmt.Errorf("unrouted handshakes, reason %s = %v, want %v", reason, got, want)
			}
		}
		return nil
	})
	if n := counterValue(t, g, "tlsgate_guest_calls_total", "tenant", "a"); n != 0 {
		t.Errorf("guest calls = %v, want none", n)
	}
}

func FuzzRouteSNI(f *testing.F) {
	for _, s := range []string{"", "a.test", "x.wild.test", "A.TEST", "a\x00", "..", strings.Repeat("a", 300)} {
		f.Add(s)
	}
	r := &router{exact: map[string]*tenant{"a.test": {name: "a"}}, wildcard: map[string]*tenant{"wild.test": {name: "w"}}}
	f.Fuzz(func(t *testing.T, sni string) {
		if checkSNI(sni) != nil {
			return
		}
		tn, err := r.route(sni)
		if err != nil {
			return
		}
		name := strings.ToLower(sni)
		switch tn.name {
		case "a":
			if name != "a.test" {
				t.Fatalf("%q routed to a.test's tenant", sni)
			}
		case "w":
			if !strings.HasSuffix(name, ".wild.test") || strings.Count(name, ".") != 2 {
				t.Fatalf("%q routed to *.wild.test's tenant", sni)
			}
		}
	})
}
