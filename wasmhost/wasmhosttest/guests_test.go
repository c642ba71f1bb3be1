package wasmhosttest

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestGuestsMatchWAT rebuilds every testdata/*.wat with wat2wasm and fails if
// the committed .wasm differs, so the compiled guests never drift from their
// source. Without wabt it fails (make test installs it: .ci/install).
func TestGuestsMatchWAT(t *testing.T) {
	wat2wasm, err := exec.LookPath("wat2wasm")
	if err != nil {
		t.Fatalf("wat2wasm not found: install wabt (apt-get install wabt; make test does): %v", err)
	}
	sources, err := filepath.Glob("testdata/*.wat")
	if err != nil || len(sources) == 0 {
		t.Fatalf("no testdata/*.wat: %v", err)
	}
	generate, err := os.ReadFile("guests.go")
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	for _, src := range sources {
		name := strings.TrimSuffix(filepath.Base(src), ".wat")
		t.Run(name, func(t *testing.T) {
			line := "//go:generate wat2wasm -o testdata/" + name + ".wasm " + src + "\n"
			if !bytes.Contains(generate, []byte(line)) {
				t.Errorf("guests.go lacks %q", strings.TrimSpace(line))
			}
			out := filepath.Join(dir, name+".wasm")
			if msg, err := exec.Command(wat2wasm, "-o", out, src).CombinedOutput(); err != nil {
				t.Fatalf("wat2wasm %s: %v\n%s", src, err, msg)
			}
			want, err := os.ReadFile(out)
			if err != nil {
				t.Fatal(err)
			}
			got, err := os.ReadFile(strings.TrimSuffix(src, ".wat") + ".wasm")
			if err != nil {
				t.Fatalf("%v: run go generate ./wasmhost/...", err)
			}
			if !bytes.Equal(got, want) {
				t.Errorf("testdata/%s.wasm differs from wat2wasm %s: run go generate ./wasmhost/...", name, src)
			}
		})
	}
}
