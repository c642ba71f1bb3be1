package guestbuild_test

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/api"

	"github.com/tlsgate/tlsgate/abi"
	"github.com/tlsgate/tlsgate/guests/guestbuild"
	"github.com/tlsgate/tlsgate/guests/prebuilt"
)

// prebuiltGuests are the committed, embedded guests and their source.
var prebuiltGuests = []struct {
	name string // file name in guests/prebuilt
	dir  string // source directory, relative to this package
	wasm []byte // the embedded bytes
	as   bool   // an AssemblyScript guest: dir holds its index.ts
}{
	{name: "sessioncache.wasm", dir: "../sessioncache", wasm: prebuilt.SessionCache},
	{name: "policycache.wasm", dir: "../policycache", wasm: prebuilt.PolicyCache},
	{name: "sessioncache-as.wasm", dir: "../assemblyscript/sessioncache", wasm: prebuilt.SessionCacheAS, as: true},
	{name: "policycache-as.wasm", dir: "../assemblyscript/policycache", wasm: prebuilt.PolicyCacheAS, as: true},
}

// build builds one of prebuiltGuests from its source into out.
func build(ctx context.Context, dir string, as bool, out string) error {
	if as {
		return guestbuild.BuildAssemblyScript(ctx, "../sdk/assemblyscript", filepath.Join(dir, "index.ts"), out)
	}
	return guestbuild.Build(ctx, dir, out)
}

// TestPrebuiltGuestsAreFresh is the drift check CI runs: every committed,
// embedded guests/prebuilt/*.wasm must be exactly what its source builds to.
func TestPrebuiltGuestsAreFresh(t *testing.T) {
	for _, g := range prebuiltGuests {
		t.Run(g.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute) // builds with a cold cache, on a busy machine
			defer cancel()
			out := filepath.Join(t.TempDir(), g.name)
			start := time.Now()
			if err := build(ctx, g.dir, g.as, out); err != nil {
				t.Fatal(err)
			}
			t.Logf("built %s in %s", g.name, time.Since(start).Round(time.Millisecond))
			built, err := os.ReadFile(out)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(built, g.wasm) {
				t.Fatalf("guests/prebuilt/%s is stale: run go run ./internal/cmd/buildguests "+
					"(built %d bytes, committed %d bytes; the bytes also depend on the Go version)",
					g.name, len(built), len(g.wasm))
			}
		})
	}
}

// TestPrebuiltGuestExports checks the ABI surface of every embedded guest
// with wazero itself: the marker and hooks with their signatures, and
// imports from the tlsgate and WASI modules only.
func TestPrebuiltGuestExports(t *testing.T) {
	ctx := context.Background()
	r := wazero.NewRuntimeWithConfig(ctx, wazero.NewRuntimeConfigInterpreter())
	defer r.Close(ctx)
	tests := []struct {
		name    string
		export  string
		results []api.ValueType
	}{
		{name: "ABI v1 marker from the SDK", export: abi.ExportMarker},
		{name: "reactor initialiser", export: abi.ExportInitialize},
		{name: "init hook", export: abi.ExportOnInit, results: []api.ValueType{api.ValueTypeI32}},
		{name: "fetch hook", export: abi.ExportOnSessionFetch, results: []api.ValueType{api.ValueTypeI32}},
		{name: "store hook", export: abi.ExportOnSessionStore, results: []api.ValueType{api.ValueTypeI32}},
	}
	for _, g := range prebuiltGuests {
		t.Run(g.name, func(t *testing.T) {
			m, err := r.CompileModule(ctx, g.wasm)
			if err != nil {
				t.Fatal(err)
			}
			exports := m.ExportedFunctions()
			for _, tt := range tests {
				if g.as && tt.export == abi.ExportInitialize {
					continue // AssemblyScript initialises in the module's start function
				}
				t.Run(tt.name, func(t *testing.T) {
					def, ok := exports[tt.export]
					if !ok {
						t.Fatalf("%s does not export %q", g.name, tt.export)
					}
					if len(def.ParamTypes()) != 0 || !equalTypes(def.ResultTypes(), tt.results) {
						t.Errorf("%s: params %v results %v, want () -> %v", tt.export, def.ParamTypes(), def.ResultTypes(), tt.results)
					}
				})
			}
			if _, ok := m.ExportedMemories()[abi.ExportMemory]; !ok {
				t.Errorf("%s does not export %q", g.name, abi.ExportMemory)
			}
			for _, imp := range m.ImportedFunctions() {
				mod, _, _ := imp.Import()
				if mod != abi.HostModule && mod != abi.WASIModule {
					t.Errorf("%s imports from module %q", g.name, mod)
				}
			}
		})
	}
}

func TestFindGuests(t *testing.T) {
	dirs, err := guestbuild.FindGuests("..")
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, d := range dirs {
		names = append(names, filepath.ToSlash(d))
		if strings.Contains(filepath.ToSlash(d), "/testdata/") {
			t.Errorf("FindGuests returned %s inside testdata", d)
		}
	}
	for _, g := range prebuiltGuests {
		if !g.as && !contains(names, g.dir) {
			t.Errorf("FindGuests(..) = %v, want it to include %s", names, g.dir)
		}
	}
	for _, lib := range []string{"../sdk/go", "../prebuilt", "../guestbuild"} {
		if contains(names, lib) {
			t.Errorf("FindGuests(..) = %v, includes library package %s", names, lib)
		}
	}
}

func TestBuildErrors(t *testing.T) {
	tests := []struct {
		name    string
		pkgDir  string
		wantMsg string
	}{
		{name: "missing directory", pkgDir: filepath.Join(t.TempDir(), "nope"), wantMsg: "guestbuild: go build"},
		{name: "not a main package", pkgDir: "../sdk/go", wantMsg: "guestbuild: go build"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			out := filepath.Join(t.TempDir(), "out.wasm")
			err := guestbuild.Build(ctx, tt.pkgDir, out)
			if err == nil || !strings.Contains(err.Error(), tt.wantMsg) {
				t.Fatalf("Build(%s) error = %v, want one containing %q", tt.pkgDir, err, tt.wantMsg)
			}
		})
	}
}

func equalTypes(a, b []api.ValueType) bool {
	return bytes.Equal(a, b)
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}
