package wasmhost

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"
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

// A caller whose deadline passes while a new instance is being built (a
// handshake's 50 ms fetch deadline against a cold start) gets an error, and
// the instance is still built, under its own init timeout, and joins the
// pool for the next caller: nothing is thrown away half-built.
func TestInstanceOutlivesTheCallerThatAskedForIt(t *testing.T) {
	tool, err := exec.LookPath("wat2wasm")
	if err != nil {
		t.Fatalf("wat2wasm not found (install wabt): %v", err)
	}
	out := filepath.Join(t.TempDir(), "trivial.wasm")
	if msg, err := exec.Command(tool, filepath.Join("testdata", "host", "trivial.wat"), "-o", out).CombinedOutput(); err != nil {
		t.Fatalf("wat2wasm: %v\n%s", err, msg)
	}
	wasm, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	rt, err := NewRuntime(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer rt.Close(ctx)
	m, err := rt.Compile(ctx, "trivial.wasm", wasm)
	if err != nil {
		t.Fatal(err)
	}
	p, err := NewPool(ctx, m, WithMaxInstances(4))
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close(ctx)

	gone, cancel := context.WithCancel(ctx)
	cancel() // the caller's deadline has passed before the instance is up
	p.mu.Lock()
	p.live++
	p.inUse++
	p.mu.Unlock()
	if inst, err := p.createFor(gone); err == nil {
		p.release(inst, "") // built faster than the select noticed: fine too
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		st := p.Stats()
		if st.Discarded[string(FaultInit)] != 0 {
			t.Fatalf("the instance was thrown away half-built: %+v", st)
		}
		if st.Live == 2 && st.Idle == 2 && st.InUse == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("the instance did not join the pool: %+v", st)
		}
		time.Sleep(time.Millisecond)
	}
}

// An instance whose memory has grown to the runtime's cap is retired when
// it comes back, not kept for the next call.
func TestInstanceAtItsMemoryCapIsRetired(t *testing.T) {
	ctx := context.Background()
	rt, err := NewRuntime(ctx, WithMemoryLimitPages(2))
	if err != nil {
		t.Fatal(err)
	}
	defer rt.Close(ctx)
	// One page now, which the guest grows to the cap of two.
	tool, err := exec.LookPath("wat2wasm")
	if err != nil {
		t.Fatalf("wat2wasm not found (install wabt): %v", err)
	}
	dir := t.TempDir()
	src := filepath.Join(dir, "grow.wat")
	os.WriteFile(src, []byte(`(module
  (memory (export "memory") 1)
  (func (export "tlsgate_abi_v1"))
  (func (export "tlsgate_on_session_fetch") (result i32)
    (drop (memory.grow (i32.const 1)))
    (i32.const 1)))`), 0o600)
	out := filepath.Join(dir, "grow.wasm")
	if msg, err := exec.Command(tool, src, "-o", out).CombinedOutput(); err != nil {
		t.Fatalf("wat2wasm: %v\n%s", err, msg)
	}
	b, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	m, err := rt.Compile(ctx, "grow.wasm", b)
	if err != nil {
		t.Fatal(err)
	}
	p, err := NewPool(ctx, m, WithMaxInstances(1))
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close(ctx)
	if _, err := p.Fetch(ctx, FetchInput{SessionID: make([]byte, 32)}); !errors.Is(err, ErrMiss) {
		t.Fatalf("fetch: %v, want a miss", err)
	}
	if st := p.Stats(); st.Discarded[string(FaultMemory)] != 1 || st.Idle != 0 {
		t.Fatalf("after a call that grew memory to the cap: %+v, want the instance retired", st)
	}
}
