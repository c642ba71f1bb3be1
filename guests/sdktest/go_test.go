//go:build !wasip1

package sdktest

import (
	"context"
	"encoding/base64"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tlsgate/tlsgate/abi"
	"github.com/tlsgate/tlsgate/gateway/natskv"
	"github.com/tlsgate/tlsgate/guests/guestbuild"
	"github.com/tlsgate/tlsgate/wasmhost"
)

// TestSDKOnRealHost builds testdata/sdkguest, a guest that runs the SDK
// through scenarios and reports what it saw, and runs it on wasmhost with a
// natskv bucket on an embedded nats-server.
func TestSDKOnRealHost(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute) // builds with a cold cache, on a busy machine
	defer cancel()
	logs := &recorder{}
	p, bucket := sdkGuest(t, ctx, "sdk", "cfg=1", slog.New(logs))

	fetch := func(t *testing.T, in wasmhost.FetchInput) string {
		t.Helper()
		got, err := p.Fetch(ctx, in)
		if err != nil {
			t.Fatalf("Fetch(%q): %v", in.SessionID, err)
		}
		return string(got)
	}
	tests := []struct {
		name string
		in   wasmhost.FetchInput
		want []string
	}{
		{
			name: "inputs of a fetch",
			in: wasmhost.FetchInput{SessionID: []byte("inputs"), ServerName: "a.test", ALPN: "h2",
				ClientAddr: "192.0.2.1:4433", TLSVersion: 0x0304, Mechanism: abi.MechanismTLS13PSK},
			want: []string{
				`call=2 tenant=sdk config="cfg=1"`,
				`sid="inputs" sni="a.test" alpn="h2" addr="192.0.2.1:4433"`,
				`version=0x0304 mechanism=1`,
				`session="" ttl=0s created=0`,
				`unknown input: BAD_ARGUMENT`,
			},
		},
		{
			name: "blocking key-value calls",
			in:   wasmhost.FetchInput{SessionID: []byte("kv")},
			want: []string{
				`get missing: NOT_FOUND`,
				`put: ""`,
				`get: "1"`,
				`create present: EXISTS is ErrExists=true`,
				`create absent: ""`,
				`delete: ""`,
				`get deleted: NOT_FOUND is ErrNotFound=true`,
				`empty key: BAD_ARGUMENT`,
				`long key: LIMIT_EXCEEDED`,
				`binary key: ""`,
				`binary key get: "bin"`,
				`get append: "prefix:b" err=<nil> same array=true`,
				`get append grown: "xb" err=<nil>`,
				`get append missing: "prefix:" is ErrNotFound=true`,
				`append id: "s/kv"`,
				`append unknown input: "" BAD_ARGUMENT`,
			},
		},
		{
			name: "values that outgrow the first buffer",
			in:   wasmhost.FetchInput{SessionID: []byte("large")},
			want: []string{
				`put max value: ""`,
				`get max value: len=65536 equal=true err=<nil>`,
				`put too large: LIMIT_EXCEEDED`,
				`set too large: LIMIT_EXCEEDED`,
			},
		},
		{
			name: "futures",
			in:   wasmhost.FetchInput{SessionID: []byte("async")},
			want: []string{
				`results: "one" "two" NOT_FOUND ""`,
				`await any of nothing: BAD_ARGUMENT`,
				`poll then await: "three"`,
				`await again: "three"`,
				`await timeout: "one"`,
				`await released: BAD_HANDLE`,
				`over the handle limit: 2 limited`,
			},
		},
		{
			name: "logging",
			in:   wasmhost.FetchInput{SessionID: []byte("log")},
			want: []string{
				`logf: ""`,
				`bad level: BAD_ARGUMENT`,
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := strings.Split(strings.TrimSuffix(fetch(t, tt.in), "\n"), "\n")
			if strings.Join(got, "\n") != strings.Join(tt.want, "\n") {
				t.Errorf("transcript:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(tt.want, "\n"))
			}
		})
	}

	t.Run("log levels reach the host", func(t *testing.T) {
		for _, want := range []struct {
			level slog.Level
			msg   string
		}{
			{slog.LevelDebug, "debug message"}, {slog.LevelInfo, "info message"},
			{slog.LevelWarn, "warn message"}, {slog.LevelError, "error message"},
			{slog.LevelInfo, "formatted 42 words"},
		} {
			if !logs.has(want.level, want.msg) {
				t.Errorf("no %s record %q; got %v", want.level, want.msg, logs.all())
			}
		}
	})

	t.Run("inputs of a store", func(t *testing.T) {
		created := time.Unix(1_700_000_000, 0)
		err := p.Store(ctx, wasmhost.StoreInput{SessionID: []byte("sid"), Session: []byte("sealed"), TTL: 90 * time.Second,
			Created: created, ServerName: "b.test", ALPN: "http/1.1", ClientAddr: "[2001:db8::1]:5555",
			TLSVersion: 0x0303, Mechanism: abi.MechanismTLS12ID})
		if err != nil {
			t.Fatal(err)
		}
		report, err := bucket.Get(ctx, base64.RawURLEncoding.EncodeToString([]byte("report")))
		if err != nil {
			t.Fatal(err)
		}
		want := strings.Join([]string{
			`call=3 tenant=sdk config="cfg=1"`,
			`sid="sid" sni="b.test" alpn="http/1.1" addr="[2001:db8::1]:5555"`,
			`version=0x0303 mechanism=3`,
			`session="sealed" ttl=1m30s created=1700000000`,
			`unknown input: BAD_ARGUMENT`,
			`set_session in store: BAD_ARGUMENT`,
			`set_route in store: BAD_ARGUMENT`,
			`set_certificate in store: BAD_ARGUMENT`,
		}, "\n") + "\n"
		if string(report) != want {
			t.Errorf("store transcript:\n%s\nwant:\n%s", report, want)
		}
	})
}

// The client-hello hook through the SDK (ABI 1.1): its inputs, set_route,
// and what each status decides.
func TestSDKClientHello(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute) // builds with a cold cache, on a busy machine
	defer cancel()
	p, bucket := sdkGuest(t, ctx, "listener", "cfg=2", slog.New(slog.DiscardHandler))

	in := wasmhost.ClientHelloInput{ClientAddr: "192.0.2.9:5000", ALPN: []string{"h2", "http/1.1"},
		SupportedVersions: []uint16{0x0304, 0x0303}, CipherSuites: []uint16{0x1301}, SupportedGroups: []uint16{0x001d},
		SignatureSchemes: []uint16{0x0403, 0x0804}, Extensions: []uint16{0x0000, 0x002b}, JA4: "t13d0102h2_x_y"}
	checkHelloDecisions(t, ctx, p, in)
	report, err := bucket.Get(ctx, base64.RawURLEncoding.EncodeToString([]byte("hello")))
	if err != nil {
		t.Fatal(err)
	}
	want := strings.Join([]string{
		`call=4 tenant="" config="cfg=2"`,
		`sni="route.test" addr="192.0.2.9:5000" alpn=["h2" "http/1.1"]`,
		`versions=[0304 0303] ciphers=[1301] groups=[001d]`,
		`sigs=[0403 0804] exts=[0000 002b] ja4="t13d0102h2_x_y"`,
		`sid="" set_session: BAD_ARGUMENT`,
		`empty route: BAD_ARGUMENT long route: LIMIT_EXCEEDED`,
	}, "\n") + "\n"
	if string(report) != want {
		t.Errorf("client-hello transcript:\n%s\nwant:\n%s", report, want)
	}
}

// The certificate hook through the SDK (ABI 1.1): its inputs,
// set_certificate, and what each status decides.
func TestSDKCertificate(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute) // builds with a cold cache, on a busy machine
	defer cancel()
	p, bucket := sdkGuest(t, ctx, "shop", "cfg=3", slog.New(slog.DiscardHandler))
	checkCertificateDecisions(t, ctx, p, wasmhost.CertificateInput{Hello: wasmhost.ClientHelloInput{ClientAddr: "192.0.2.9:5000",
		SignatureSchemes: []uint16{0x0804, 0x0403}, JA4: "t13d0102h2_x_y"}})
	report, err := bucket.Get(ctx, base64.RawURLEncoding.EncodeToString([]byte("certificate")))
	if err != nil {
		t.Fatal(err)
	}
	want := strings.Join([]string{
		`call=5 tenant="shop" config="cfg=3"`,
		`sni="rsa.test" addr="192.0.2.9:5000" ja4="t13d0102h2_x_y" ecdsa=true`,
		`certificates=[{default 1} {rsa 2}]`,
		`set_route: BAD_ARGUMENT empty: BAD_ARGUMENT long: LIMIT_EXCEEDED`,
	}, "\n") + "\n"
	if string(report) != want {
		t.Errorf("certificate transcript:\n%s\nwant:\n%s", report, want)
	}
}

// The upstream session hooks through the SDK (ABI 1.1): their inputs, and
// set_session in a fetch but not in a store.
func TestSDKUpstreamSessions(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute) // builds with a cold cache, on a busy machine
	defer cancel()
	p, bucket := sdkGuest(t, ctx, "shop", "", slog.New(slog.DiscardHandler))
	got, err := p.UpstreamFetch(ctx, "origin.test:443")
	if want := "call=6 tenant=shop upstream=\"origin.test:443\" sni=\"\"\n"; err != nil || string(got) != want {
		t.Errorf("upstream fetch: %q, %v; want %q", got, err, want)
	}
	if err := p.UpstreamStore(ctx, "origin.test:443", []byte("sealed"), 90*time.Second); err != nil {
		t.Fatal(err)
	}
	report, err := bucket.Get(ctx, base64.RawURLEncoding.EncodeToString([]byte("upstream")))
	if err != nil {
		t.Fatal(err)
	}
	if want := "call=7 upstream=\"origin.test:443\" session=\"sealed\" ttl=1m30s\nset_session: BAD_ARGUMENT\n"; string(report) != want {
		t.Errorf("upstream store transcript:\n%s\nwant:\n%s", report, want)
	}
}

// sdkGuest builds testdata/sdkguest, the Go SDK's test guest, and starts it
// with startGuest.
func sdkGuest(t *testing.T, ctx context.Context, tenant, config string, log *slog.Logger) (*wasmhost.Pool, *natskv.Bucket) {
	t.Helper()
	wasmFile := filepath.Join(t.TempDir(), "sdkguest.wasm")
	if err := guestbuild.Build(ctx, "testdata/sdkguest", wasmFile); err != nil {
		t.Fatal(err)
	}
	return startGuest(t, ctx, wasmFile, tenant, config, log)
}

// startGuest starts the guest in wasmFile on wasmhost for tenant, with
// config as its guest configuration and a natskv bucket of its own on an
// embedded nats-server; everything is closed with the test.
func startGuest(t *testing.T, ctx context.Context, wasmFile, tenant, config string, log *slog.Logger) (*wasmhost.Pool, *natskv.Bucket) {
	t.Helper()
	wasm, err := os.ReadFile(wasmFile)
	if err != nil {
		t.Fatal(err)
	}
	srv, err := natskv.StartEmbedded(ctx, natskv.WithDataDir(t.TempDir()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close(context.Background()) })
	client, err := natskv.Connect(ctx, natskv.WithInProcess(srv), natskv.WithLogger(slog.New(slog.DiscardHandler)))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { client.Close(context.Background()) })
	bucket, err := client.Bucket(ctx, tenant, natskv.WithStorage("memory"))
	if err != nil {
		t.Fatal(err)
	}
	rt, err := wasmhost.NewRuntime(ctx, wasmhost.WithLogger(slog.New(slog.DiscardHandler)))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { rt.Close(context.Background()) })
	m, err := rt.Compile(ctx, "sdkguest.wasm", wasm)
	if err != nil {
		t.Fatal(err)
	}
	p, err := wasmhost.NewPool(ctx, m, wasmhost.WithTenant(tenant), wasmhost.WithGuestConfig([]byte(config)),
		wasmhost.WithKV(bucket), wasmhost.WithPoolLogger(log), wasmhost.WithCallTimeout(30*time.Second),
		wasmhost.WithInitTimeout(30*time.Second)) // generous: a busy machine
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Close(context.Background()) })
	return p, bucket
}

// recorder is a slog.Handler that keeps every record.
type recorder struct {
	mu      sync.Mutex
	records []slog.Record
}

func (r *recorder) Enabled(context.Context, slog.Level) bool { return true }
func (r *recorder) Handle(_ context.Context, rec slog.Record) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.records = append(r.records, rec.Clone())
	return nil
}
func (r *recorder) WithAttrs([]slog.Attr) slog.Handler { return r }
func (r *recorder) WithGroup(string) slog.Handler      { return r }

func (r *recorder) has(level slog.Level, msg string) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, rec := range r.records {
		if rec.Level == level && strings.Contains(rec.Message, msg) {
			return true
		}
	}
	return false
}

func (r *recorder) all() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []string
	for _, rec := range r.records {
		out = append(out, rec.Level.String()+" "+rec.Message)
	}
	return out
}
