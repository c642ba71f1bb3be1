package main

import (
	"context"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tlsgate/tlsgate/gateway/natskv"
	"github.com/tlsgate/tlsgate/guests/guestbuild"
	"github.com/tlsgate/tlsgate/wasmhost"
	"github.com/tlsgate/tlsgate/wasmhost/wasmhosttest"
)

// TestGuestNew is a guest author's first hour, outside this repository:
// `tlsgate guest new` writes a guest into a directory of its own, the
// author builds it with the language's own tools (a Go module that requires
// the Go SDK, an npm package that uses the AssemblyScript SDK), and the
// module passes the conformance kit, `tlsgate guest check` and `tlsgate
// check` with a tenant using it.
func TestGuestNew(t *testing.T) {
	repo := mustAbs(t, "../..")
	for _, lang := range []string{"go", "assemblyscript"} {
		t.Run(lang, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
			defer cancel()
			dir := filepath.Join(t.TempDir(), "myguest")
			out, code := run(t, binPlain, "guest", "new", "--lang", lang, "--tlsgate", repo, dir)
			if code != 0 || !strings.Contains(out, "wrote "+dir) {
				t.Fatalf("guest new: exit %d:\n%s", code, out)
			}
			wasmFile := filepath.Join(dir, "myguest.wasm")
			switch lang {
			case "go":
				if err := guestbuild.Build(ctx, dir, wasmFile); err != nil {
					t.Fatal(err)
				}
				// go mod tidy keeps the guest's requirements to the SDK and the
				// ABI: nothing of the gateway's graph comes with them.
				tidy := exec.CommandContext(ctx, "go", "mod", "tidy")
				tidy.Dir = dir
				tidy.Env = append(os.Environ(), "GOFLAGS=", "GOPROXY=off")
				if msg, err := tidy.CombinedOutput(); err != nil {
					t.Fatalf("go mod tidy: %v\n%s", err, msg)
				}
				mod, _ := os.ReadFile(filepath.Join(dir, "go.mod"))
				sum, _ := os.ReadFile(filepath.Join(dir, "go.sum"))
				for _, dep := range []string{"nats", "wazero", "prometheus", "cobra"} {
					if strings.Contains(string(mod)+string(sum), dep) {
						t.Errorf("after go mod tidy the guest's go.mod or go.sum names %s:\n%s\n%s", dep, mod, sum)
					}
				}
			default:
				for _, args := range [][]string{{"install", "--no-audit", "--no-fund", "--loglevel=error"}, {"run", "build"}} {
					cmd := exec.CommandContext(ctx, "npm", args...)
					cmd.Dir = dir
					if msg, err := cmd.CombinedOutput(); err != nil {
						t.Fatalf("npm %s: %v\n%s", strings.Join(args, " "), err, msg)
					}
				}
			}
			wasm, err := os.ReadFile(wasmFile)
			if err != nil {
				t.Fatal(err)
			}
			t.Logf("%s guest: %d bytes", lang, len(wasm))

			wasmhosttest.TestGuest(t, kitHost(t), wasm, wasmhosttest.WithTTLCheck())

			if out, code := run(t, binPlain, "guest", "check", wasmFile); code != 0 || !strings.Contains(out, "exports fetch store") {
				t.Errorf("guest check: exit %d:\n%s", code, out)
			}
			cfg := filepath.Join(t.TempDir(), "tlsgate.yaml")
			os.WriteFile(cfg, []byte("tenants:\n  - {name: a, server_names: [a.test], certificate: {self_signed: true}, upstream: builtin, guest: {module: "+wasmFile+"}}\n"), 0o600)
			if out, code := run(t, binPlain, "check", "--config", cfg, "--data-dir", t.TempDir()); code != 0 || !strings.Contains(out, "loaded") {
				t.Errorf("check: exit %d:\n%s", code, out)
			}
		})
	}
}

func TestGuestNewRefuses(t *testing.T) {
	taken := filepath.Join(t.TempDir(), "taken")
	os.Mkdir(taken, 0o755)
	for _, tt := range []struct {
		name string
		args []string
		want string
	}{
		{"unknown language", []string{"--lang", "rust", filepath.Join(t.TempDir(), "g")}, `--lang "rust": want go or assemblyscript`},
		{"bad name", []string{filepath.Join(t.TempDir(), "My Guest")}, `name "My Guest"`},
		{"directory exists", []string{taken}, "exists; nothing written"},
		{"not a checkout", []string{"--tlsgate", t.TempDir(), filepath.Join(t.TempDir(), "g")}, "not a tlsgate checkout"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			out, code := run(t, binPlain, append([]string{"guest", "new"}, tt.args...)...)
			if code != 2 || !strings.Contains(out, tt.want) {
				t.Fatalf("exit %d (want 2), output:\n%s\nwant it to contain %q", code, out, tt.want)
			}
		})
	}
}

// TestGuestNewPinsTheSDKsCompiler: a new AssemblyScript guest builds with
// the compiler the SDK is tested with.
func TestGuestNewPinsTheSDKsCompiler(t *testing.T) {
	b, err := os.ReadFile("../../guests/sdk/assemblyscript/package.json")
	if err != nil {
		t.Fatal(err)
	}
	if want := `"assemblyscript": "` + ascVersion + `"`; !strings.Contains(string(b), want) {
		t.Fatalf("guests/sdk/assemblyscript/package.json does not pin %s (ascVersion in guestnew.go)", want)
	}
}

// kitHost is the conformance kit's host over wasmhost, with a bucket per
// tenant on an embedded nats-server.
func kitHost(t *testing.T) wasmhosttest.Host {
	t.Helper()
	ctx := context.Background()
	quiet := slog.New(slog.DiscardHandler)
	srv, err := natskv.StartEmbedded(ctx, natskv.WithDataDir(t.TempDir()), natskv.WithServerLogger(quiet))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close(ctx) })
	client, err := natskv.Connect(ctx, natskv.WithInProcess(srv), natskv.WithLogger(quiet))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { client.Close(ctx) })
	rt, err := wasmhost.NewRuntime(ctx, wasmhost.WithLogger(quiet), wasmhost.WithCompilationCacheDir(wasmCache))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { rt.Close(ctx) })
	var mu sync.Mutex
	buckets := map[string]*natskv.Bucket{}
	kv := func(ctx context.Context, tenant string) (wasmhost.KV, error) {
		mu.Lock()
		defer mu.Unlock()
		if b, ok := buckets[tenant]; ok {
			return b, nil
		}
		b, err := client.Bucket(ctx, tenant, natskv.WithStorage("memory"))
		if err == nil {
			buckets[tenant] = b
		}
		return b, err
	}
	return wasmhosttest.NewWasmhost(rt, kv, wasmhost.WithPoolLogger(quiet), wasmhost.WithCallTimeout(30*time.Second))
}
