package ja4

import (
	"crypto/tls"
	"net"
	"strconv"
	"strings"
	"testing"
)

// hexes parses "1301,1302,..." into values.
func hexes(t *testing.T, s string) []uint16 {
	t.Helper()
	var out []uint16
	for _, f := range strings.Split(s, ",") {
		v, err := strconv.ParseUint(f, 16, 16)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, uint16(v))
	}
	return out
}

// The vectors of FoxIO's JA4 specification (technical_details/JA4.md) and
// a Chrome 143 ClientHello as browserleaks.com reported it (ja4_ro, the
// lists in the order sent), with GREASE values added where clients put them.
func TestSpecificationVectors(t *testing.T) {
	grease := []uint16{0x0a0a}
	tests := []struct {
		name                string
		ciphers, exts, sigs string
		alpn                []string
		want, wantRaw       string
	}{
		{
			name:    "FoxIO's example",
			ciphers: "1301,1302,1303,c02b,c02f,c02c,c030,cca9,cca8,c013,c014,009c,009d,002f,0035",
			exts:    "001b,0000,0033,0010,4469,0017,002d,000d,0005,0023,0012,002b,ff01,000b,000a,0015",
			sigs:    "0403,0804,0401,0503,0805,0501,0806,0601",
			alpn:    []string{"h2", "http/1.1"},
			want:    "t13d1516h2_8daaf6152771_e5627efa2ab1",
			wantRaw: "t13d1516h2_002f,0035,009c,009d,1301,1302,1303,c013,c014,c02b,c02c,c02f,c030,cca8,cca9_0005,000a,000b,000d,0012,0015,0017,001b,0023,002b,002d,0033,4469,ff01_0403,0804,0401,0503,0805,0501,0806,0601",
		},
		{
			name:    "Chrome 143",
			ciphers: "1301,1302,1303,c02b,c02f,c02c,c030,cca9,cca8,c013,c014,009c,009d,002f,0035",
			exts:    "002d,0033,0010,fe0d,0017,44cd,0000,000b,000a,002b,ff01,0023,0012,0005,000d,001b",
			sigs:    "0403,0804,0401,0503,0805,0501,0806,0601",
			alpn:    []string{"h2", "http/1.1"},
			want:    "t13d1516h2_8daaf6152771_d8a2da3f94cd",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := Hello{
				Versions:            []uint16{0x2a2a, 0x0304, 0x0303},
				Ciphers:             append(append([]uint16{}, grease...), hexes(t, tt.ciphers)...),
				Extensions:          append(append(hexes(t, tt.exts), 0x3a3a), grease...),
				SignatureAlgorithms: hexes(t, tt.sigs),
				ALPN:                tt.alpn,
			}
			if got := h.Fingerprint(); got != tt.want {
				t.Errorf("JA4 = %s, want %s", got, tt.want)
			}
			if tt.wantRaw != "" && h.Raw() != tt.wantRaw {
				t.Errorf("JA4_r = %s, want %s", h.Raw(), tt.wantRaw)
			}
		})
	}
}

func TestEdgeCases(t *testing.T) {
	exts := "001b,0000,0033,0010,4469,0017,002d,000d,0005,0023,0012,002b,ff01,000b,000a,0015"
	t.Run("no signature algorithms: no underscore in what is hashed", func(t *testing.T) {
		h := Hello{Versions: []uint16{0x0303}, Extensions: hexes(t, exts)}
		if got, want := h.Fingerprint(), "t12d0016"+"00_000000000000_6d807ffa2a79"; got != want {
			t.Errorf("JA4 = %s, want %s", got, want)
		}
	})
	t.Run("nothing at all", func(t *testing.T) {
		if got, want := (Hello{}).Fingerprint(), "t00i000000_000000000000_000000000000"; got != want {
			t.Errorf("JA4 = %s, want %s", got, want)
		}
	})
	t.Run("counts stop at 99", func(t *testing.T) {
		var h Hello
		for i := range 150 {
			h.Ciphers = append(h.Ciphers, uint16(0x1000+i))
		}
		if got := h.Fingerprint()[4:6]; got != "99" {
			t.Errorf("cipher count %s, want 99", got)
		}
	})
	for _, tt := range []struct {
		alpn []string
		want string
	}{
		{nil, "00"}, {[]string{""}, "00"}, {[]string{"http/1.1", "h2"}, "h1"}, {[]string{"x"}, "xx"},
		{[]string{"\xab"}, "ab"}, {[]string{"\xab\xcd"}, "ad"}, {[]string{"0\xab"}, "3b"},
		{[]string{"01\xab\xcd"}, "3d"}, {[]string{"0\xab\xcd1"}, "01"},
	} {
		if got := alpn(tt.alpn); got != tt.want {
			t.Errorf("ALPN %q: %q, want %q", tt.alpn, got, tt.want)
		}
	}
	for v, want := range map[uint16]bool{0x0a0a: true, 0xfafa: true, 0x1a1a: true, 0x1a2a: false, 0x0a0b: false, 0x1301: false} {
		if isGREASE(v) != want {
			t.Errorf("isGREASE(%#04x) = %v", v, !want)
		}
	}
}

// TestGoClient computes the fingerprint of a real ClientHello, Go's
// client's, as the gateway will: from crypto/tls's ClientHelloInfo.
func TestGoClient(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	got := make(chan string, 2)
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			srv := tls.Server(c, &tls.Config{GetConfigForClient: func(ch *tls.ClientHelloInfo) (*tls.Config, error) {
				h := FromClientHello(ch)
				got <- h.Fingerprint() + " " + h.Raw()
				return nil, net.ErrClosed // the fingerprint is all this test wants
			}})
			_ = srv.Handshake()
			c.Close()
		}
	}()
	for _, tt := range []struct {
		cfg    *tls.Config
		prefix string
	}{
		{&tls.Config{ServerName: "a.test", NextProtos: []string{"h2", "http/1.1"}, MinVersion: tls.VersionTLS12}, "t13d"},
		{&tls.Config{InsecureSkipVerify: true, MaxVersion: tls.VersionTLS12}, "t12i"},
	} {
		c, err := tls.Dial("tcp", ln.Addr().String(), tt.cfg)
		if err == nil {
			c.Close()
		}
		fp := <-got
		ja4, raw, _ := strings.Cut(fp, " ")
		if !strings.HasPrefix(ja4, tt.prefix) || len(ja4) != len("t13d1516h2_8daaf6152771_e5627efa2ab1") {
			t.Errorf("JA4 of Go's client %s, want %s... of the usual length", ja4, tt.prefix)
		}
		if alpn := ja4[8:10]; (len(tt.cfg.NextProtos) > 0) != (alpn == "h2") || (len(tt.cfg.NextProtos) == 0 && alpn != "00") {
			t.Errorf("JA4 %s: ALPN part %q for protocols %q", ja4, alpn, tt.cfg.NextProtos)
		}
		if parts := strings.Split(raw, "_"); len(parts) != 4 || strings.Contains(parts[2], "0000") {
			t.Errorf("JA4_r %s: want 4 parts, SNI not among the hashed extensions", raw)
		}
	}
}

// A client that sends no supported_versions extension offers its legacy
// version alone, whatever crypto/tls fills in below it.
func TestOfferedVersions(t *testing.T) {
	ch := &tls.ClientHelloInfo{SupportedVersions: []uint16{0x0303, 0x0302, 0x0301}, Extensions: []uint16{0x0000, 0x000d}}
	if got := OfferedVersions(ch); len(got) != 1 || got[0] != 0x0303 {
		t.Errorf("without the extension: %04x, want [0303]", got)
	}
	ch.Extensions = append(ch.Extensions, 0x002b)
	if got := OfferedVersions(ch); len(got) != 3 {
		t.Errorf("with the extension: %04x, want the list", got)
	}
}
