package wasmhost_test

import (
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"
)

var watCache sync.Map // WAT source -> []byte

// compileWAT turns WAT text into a Wasm binary with wabt's wat2wasm.
func compileWAT(tb testing.TB, src string) []byte {
	tb.Helper()
	if b, ok := watCache.Load(src); ok {
		return b.([]byte)
	}
	tool, err := exec.LookPath("wat2wasm")
	if err != nil {
		tb.Fatalf("wat2wasm not found (install wabt, e.g. apt-get install wabt): %v", err)
	}
	dir := tb.TempDir()
	in, out := filepath.Join(dir, "m.wat"), filepath.Join(dir, "m.wasm")
	if err := os.WriteFile(in, []byte(src), 0o600); err != nil {
		tb.Fatal(err)
	}
	if msg, err := exec.Command(tool, in, "-o", out).CombinedOutput(); err != nil {
		tb.Fatalf("wat2wasm: %v\n%s\n%s", err, msg, src)
	}
	b, err := os.ReadFile(out)
	if err != nil {
		tb.Fatal(err)
	}
	watCache.Store(src, b)
	return b
}

// guestWasm compiles testdata/host/<name>.wat.
func guestWasm(tb testing.TB, name string) []byte {
	tb.Helper()
	src, err := os.ReadFile(filepath.Join("testdata", "host", name+".wat"))
	if err != nil {
		tb.Fatal(err)
	}
	return compileWAT(tb, string(src))
}
