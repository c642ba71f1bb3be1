package wasmhost

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

// BenchmarkPoolCheckout is acquire + release of an idle instance, without
// a guest call.
func BenchmarkPoolCheckout(b *testing.B) {
	tool, err := exec.LookPath("wat2wasm")
	if err != nil {
		b.Fatalf("wat2wasm not found (install wabt): %v", err)
	}
	out := filepath.Join(b.TempDir(), "trivial.wasm")
	if msg, err := exec.Command(tool, filepath.Join("testdata", "host", "trivial.wat"), "-o", out).CombinedOutput(); err != nil {
		b.Fatalf("wat2wasm: %v\n%s", err, msg)
	}
	wasm, err := os.ReadFile(out)
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	rt, err := NewRuntime(ctx)
	if err != nil {
		b.Fatal(err)
	}
	defer rt.Close(ctx)
	m, err := rt.Compile(ctx, "trivial.wasm", wasm)
	if err != nil {
		b.Fatal(err)
	}
	p, err := NewPool(ctx, m)
	if err != nil {
		b.Fatal(err)
	}
	defer p.Close(ctx)
	b.ReportAllocs()
	for b.Loop() {
		inst, err := p.acquire(ctx)
		if err != nil {
			b.Fatal(err)
		}
		p.release(inst, "")
	}
}
