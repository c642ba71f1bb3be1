//go:build !tlsgate_sessionid

package sessionidtest

import (
	"bytes"
	"context"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestPatchedCryptoTLS builds the crypto/tls overlay and runs this package's
// tlsgate_sessionid tests under it in a child go test, so that a plain
// go test ./... exercises the patch with real clients.
func TestPatchedCryptoTLS(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 8*time.Minute)
	defer cancel()
	root, err := filepath.Abs(filepath.Join("..", ".."))
	if err != nil {
		t.Fatal(err)
	}
	overlayDir := filepath.Join(t.TempDir(), "overlay")
	goCmd := func(args ...string) string {
		t.Helper()
		cmd := exec.CommandContext(ctx, "go", args...)
		cmd.Dir = root
		var out bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &out
		err := cmd.Run()
		t.Logf("go %s:\n%s", strings.Join(args, " "), out.String())
		if err != nil {
			t.Fatalf("go %s: %v", strings.Join(args, " "), err)
		}
		return out.String()
	}
	goCmd("run", "./internal/cmd/tlsoverlay", "-out", overlayDir)
	out := goCmd("test", "-count=1", "-v",
		"-overlay", filepath.Join(overlayDir, "overlay.json"),
		"-tags", "tlsgate_sessionid",
		"./internal/sessionidtest")
	if !strings.Contains(out, "--- PASS: TestOpenSSLResumesBySessionID") ||
		!strings.Contains(out, "--- PASS: TestJavaResumesBySessionID") {
		t.Fatal("the patched tests did not run")
	}
}
