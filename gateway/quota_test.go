package gateway

import (
	"crypto/tls"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/tlsgate/tlsgate/gateway/config"
)

// watGuest builds gateway/testdata/NAME.wat with wat2wasm into a test
// directory and returns the module's path.
func watGuest(t *testing.T, name string) string {
	t.Helper()
	wat2wasm, err := exec.LookPath("wat2wasm")
	if err != nil {
		t.Fatal("wat2wasm is needed for this test: apt-get install wabt")
	}
	out := filepath.Join(t.TempDir(), name+".wasm")
	if b, err := exec.Command(wat2wasm, "-o", out, filepath.Join("testdata", name+".wat")).CombinedOutput(); err != nil {
		t.Fatalf("wat2wasm %s: %v\n%s", name, err, b)
	}
	return out
}

// One tenant's guest trying to fill the store (fill_store writes 256 MiB
// per store call) gets its per-call write budget and its bucket's quota,
// LIMIT_EXCEEDED past them, and a metric; a neighbour's sessions keep
// being stored and resumed.
func TestGuestCannotFillTheStoreOfOtherTenants(t *testing.T) {
	hog := cacheTenant("hog", "hog.test")
	// A per-call budget above the quota, so both bounds are reached: the
	// first call fills the bucket to its quota, later ones hit the budget.
	hog.Guest = &config.Guest{Module: watGuest(t, "fill_store"), KVMaxBytes: 4 << 20, KVWriteBytesPerCall: 6 << 20}
	cfg := testConfig(t, hog, cacheTenant("web", "web.test"))
	cfg.NATS.Embedded.Listen = "127.0.0.1:0"
	g := startGateway(t, cfg)

	for range 10 {
		dial(t, g.addr(), clientOpts{sni: "hog.test", version: tls.VersionTLS13, cache: tls.NewLRUClientSessionCache(1)})
		g.waitStores(t)
	}
	held := 0
	for _, v := range allEntries(t, kvOf(t, g, "hog")) {
		held += len(v)
	}
	if held > 4<<20 {
		t.Errorf("the hog holds %d bytes of values, over its quota of %d", held, 4<<20)
	}
	if held < 3<<20 {
		t.Errorf("the hog holds %d bytes of values: its guest did not write up to its quota", held)
	}
	if n := counterValueFor(t, g, "tlsgate_kv_operation_errors_total", map[string]string{"tenant": "hog", "kind": "limit"}); n == 0 {
		t.Error("no tlsgate_kv_operation_errors_total{kind=\"limit\"} for the hog")
	}
	for _, v := range []uint16{tls.VersionTLS13, tls.VersionTLS12} {
		if _, second := resumeOnce(t, g, g.addr(), clientOpts{sni: "web.test", version: v}); !second.state.DidResume {
			t.Errorf("%s: the neighbour's session did not resume while the hog is at its quota", tls.VersionName(v))
		}
	}
}
