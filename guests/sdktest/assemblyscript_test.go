//go:build !wasip1

package sdktest

import (
	"context"
	"encoding/base64"
	"log/slog"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tlsgate/tlsgate/abi"
	"github.com/tlsgate/tlsgate/guests/guestbuild"
	"github.com/tlsgate/tlsgate/wasmhost"
)

const asSDK = "../sdk/assemblyscript"

// asGuest builds the AssemblyScript SDK's test guest (tests/sdkguest.ts)
// with the pinned asc and starts it with startGuest.
func asGuest(t *testing.T, ctx context.Context, tenant, config string, log *slog.Logger) (*wasmhost.Pool, func(key string) string) {
	t.Helper()
	wasmFile := filepath.Join(t.TempDir(), "sdkguest-as.wasm")
	if err := guestbuild.BuildAssemblyScript(ctx, asSDK, filepath.Join(asSDK, "tests", "sdkguest.ts"), wasmFile); err != nil {
		t.Fatal(err)
	}
	p, bucket := startGuest(t, ctx, wasmFile, tenant, config, log)
	get := func(key string) string {
		t.Helper()
		v, err := bucket.Get(ctx, base64.RawURLEncoding.EncodeToString([]byte(key)))
		if err != nil {
			t.Fatalf("report %q: %v", key, err)
		}
		return string(v)
	}
	return p, get
}

func lines(s ...string) string { return strings.Join(s, "\n") + "\n" }

// TestAssemblyScriptSDKOnRealHost runs every wrapper of the AssemblyScript
// SDK (inputs, outputs, blocking and handle-based key-value calls, logging)
// on wasmhost with a real NATS key-value store, hook by hook.
func TestAssemblyScriptSDKOnRealHost(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute) // builds with a cold cache, on a busy machine
	defer cancel()
	logs := &recorder{}
	p, report := asGuest(t, ctx, "sdk", "cfg=1", slog.New(logs))

	for _, tt := range []struct {
		name string
		in   wasmhost.FetchInput
		want string
	}{
		{name: "inputs of a fetch", in: wasmhost.FetchInput{SessionID: []byte("inputs"), ServerName: "a.test", ALPN: "h2",
			ClientAddr: "192.0.2.1:4433", TLSVersion: 0x0304, Mechanism: abi.MechanismTLS13PSK},
			want: lines(`call=2 tenant="sdk" config="cfg=1"`, `sid="inputs" sni="a.test" alpn="h2" addr="192.0.2.1:4433"`,
				`version=0x0304 mechanism=1`, `session: NOT_FOUND ttl=0 created=0`, `unknown input: BAD_ARGUMENT`)},
		{name: "blocking key-value calls", in: wasmhost.FetchInput{SessionID: []byte("kv")},
			want: lines(`get missing: NOT_FOUND`, `put: OK`, `get: OK "1"`, `create present: EXISTS`, `create absent: OK`,
				`delete: OK missing: OK`, `get deleted: NOT_FOUND`, `empty key: BAD_ARGUMENT`, `long key: LIMIT_EXCEEDED`,
				`binary key: OK OK "bin"`, `huge ttl: OK`)},
		{name: "values that outgrow the first buffer", in: wasmhost.FetchInput{SessionID: []byte("large")},
			want: lines(`put max value: OK`, `get max value: OK len=65536 equal=true`, `put too large: LIMIT_EXCEEDED`,
				`set too large: LIMIT_EXCEEDED`)},
		{name: "handles", in: wasmhost.FetchInput{SessionID: []byte("async")},
			want: lines(`results: "1" "2" NOT_FOUND`, `await any of nothing: BAD_ARGUMENT`, `poll then await: ok OK OK "2"`,
				`result again: OK "2"`, `futures: OK OK "1" put OK`, `released future: BAD_HANDLE reused: OK OK "4"`,
				`over the handle limit: 6 limited`)},
		{name: "a future left in flight", in: wasmhost.FetchInput{SessionID: []byte("future1")}, want: lines(`started`)},
		{name: "the future reused in the next call", in: wasmhost.FetchInput{SessionID: []byte("future2")},
			want: lines(`reused in a later call: OK OK "1"`, `await any with a failed start: BAD_ARGUMENT wait on nothing: BAD_HANDLE`)},
		{name: "logging", in: wasmhost.FetchInput{SessionID: []byte("log")}, want: lines(`bad level: BAD_ARGUMENT`)},
	} {
		t.Run(tt.name, func(t *testing.T) {
			got, err := p.Fetch(ctx, tt.in)
			if err != nil {
				t.Fatalf("Fetch(%q): %v", tt.in.SessionID, err)
			}
			if string(got) != tt.want {
				t.Errorf("transcript:\n%s\nwant:\n%s", got, tt.want)
			}
		})
	}
	t.Run("log levels reach the host", func(t *testing.T) {
		for _, want := range []struct {
			level slog.Level
			msg   string
		}{
			{slog.LevelDebug, "debug message"}, {slog.LevelInfo, "info message"},
			{slog.LevelWarn, "warn message"}, {slog.LevelError, "error message"}, {slog.LevelInfo, "é and ünïcode"},
		} {
			if !logs.has(want.level, want.msg) {
				t.Errorf("no %s record %q; got %v", want.level, want.msg, logs.all())
			}
		}
	})
	t.Run("a fetch it does not know misses", func(t *testing.T) {
		if _, err := p.Fetch(ctx, wasmhost.FetchInput{SessionID: []byte("other")}); err != wasmhost.ErrMiss {
			t.Fatalf("Fetch = %v, want ErrMiss", err)
		}
	})
	t.Run("inputs of a store", func(t *testing.T) {
		err := p.Store(ctx, wasmhost.StoreInput{SessionID: []byte("sid"), Session: []byte("sealed"), TTL: 90 * time.Second,
			Created: time.Unix(1_700_000_000, 0), ServerName: "b.test", ALPN: "http/1.1", ClientAddr: "[2001:db8::1]:5555",
			TLSVersion: 0x0303, Mechanism: abi.MechanismTLS12ID})
		if err != nil {
			t.Fatal(err)
		}
		want := lines(`call=3 tenant="sdk" config="cfg=1"`, `sid="sid" sni="b.test" alpn="http/1.1" addr="[2001:db8::1]:5555"`,
			`version=0x0303 mechanism=3`, `session="sealed" ttl=90000 created=1700000000`, `set_session in store: BAD_ARGUMENT`,
			`set_route in store: BAD_ARGUMENT`, `set_certificate in store: BAD_ARGUMENT`)
		if got := report("report"); got != want {
			t.Errorf("store transcript:\n%s\nwant:\n%s", got, want)
		}
	})
	t.Run("upstream sessions", func(t *testing.T) {
		got, err := p.UpstreamFetch(ctx, "origin.test:443")
		if want := lines(`call=6 tenant="sdk" config="cfg=1"`, `upstream="origin.test:443"`); err != nil || string(got) != want {
			t.Errorf("upstream fetch: %q, %v; want %q", got, err, want)
		}
		if err := p.UpstreamStore(ctx, "origin.test:443", []byte("sealed"), 90*time.Second); err != nil {
			t.Fatal(err)
		}
		if got, want := report("upstream"), lines(`call=7 upstream="origin.test:443" session="sealed" ttl=90000`); got != want {
			t.Errorf("upstream store transcript: %q, want %q", got, want)
		}
	})
	t.Run("client hello", func(t *testing.T) {
		checkHelloDecisions(t, ctx, p, wasmhost.ClientHelloInput{ClientAddr: "192.0.2.9:5000", JA4: "t13d0102h2_x_y"})
		want := lines(`call=4 tenant="" config="cfg=1"`, `sni="route.test" addr="192.0.2.9:5000" ja4="t13d0102h2_x_y"`,
			`empty route: BAD_ARGUMENT long route: LIMIT_EXCEEDED`)
		if got := report("hello"); got != want {
			t.Errorf("client-hello transcript:\n%s\nwant:\n%s", got, want)
		}
	})
	t.Run("certificate", func(t *testing.T) {
		checkCertificateDecisions(t, ctx, p, wasmhost.CertificateInput{Hello: wasmhost.ClientHelloInput{ClientAddr: "192.0.2.9:5000"}})
		want := lines(`call=5 tenant="sdk" config="cfg=1"`, `sni="rsa.test" certificates=[default:1 rsa:2]`,
			`set_route: BAD_ARGUMENT empty: BAD_ARGUMENT long: LIMIT_EXCEEDED`)
		if got := report("certificate"); got != want {
			t.Errorf("certificate transcript:\n%s\nwant:\n%s", got, want)
		}
	})
}
