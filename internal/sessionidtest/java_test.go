//go:build tlsgate_sessionid

package sessionidtest

import (
	"bytes"
	"context"
	"crypto/tls"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

// javaCommand runs a JDK tool and returns its combined output.
func javaCommand(t *testing.T, ctx context.Context, name string, args ...string) string {
	t.Helper()
	cmd := exec.CommandContext(ctx, name, args...)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out.String())
	}
	return out.String()
}

var javaSessionID = regexp.MustCompile(`(?m)^connection (\d): protocol=(\S+) .*session-id=([0-9a-f]*) `)

func TestJavaResumesBySessionID(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cache := newSessionCache()
	srv := startServer(t, cache.install(&tls.Config{MinVersion: tls.VersionTLS12}))

	dir := t.TempDir()
	certFile := filepath.Join(dir, "server.pem")
	if err := os.WriteFile(certFile, srv.certPEM, 0o644); err != nil {
		t.Fatal(err)
	}
	trustStore := filepath.Join(dir, "trust.p12")
	javaCommand(t, ctx, "keytool", "-importcert", "-noprompt", "-alias", "tlsgate-test",
		"-file", certFile, "-keystore", trustStore, "-storetype", "PKCS12", "-storepass", "changeit")
	javaCommand(t, ctx, "javac", "-d", dir, filepath.Join("testdata", "Resume.java"))

	host, port, _ := strings.Cut(srv.addr, ":")
	out := javaCommand(t, ctx, "java",
		"-Djdk.tls.client.enableSessionTicketExtension=false",
		"-Djavax.net.ssl.trustStore="+trustStore,
		"-Djavax.net.ssl.trustStorePassword=changeit",
		"-Djavax.net.ssl.trustStoreType=PKCS12",
		"-cp", dir, "Resume", host, port)
	t.Logf("Java saw:\n%s", out)

	conns := javaSessionID.FindAllStringSubmatch(out, -1)
	if len(conns) != 2 {
		t.Fatalf("Java reported %d connections, want 2", len(conns))
	}
	for _, c := range conns {
		if c[2] != "TLSv1.2" {
			t.Errorf("connection %s used %s, want TLSv1.2", c[1], c[2])
		}
	}
	if len(conns[0][3]) != 64 {
		t.Errorf("first Session ID %q, want the server's 32-byte ID", conns[0][3])
	}
	if !strings.Contains(out, "resumed=true") {
		t.Errorf("Java did not resume the first session")
	}
	if !storedID(cache, conns[0][3]) {
		t.Errorf("Java's Session ID %s is not the one the server stored", conns[0][3])
	}
	for i, want := range []bool{false, true} {
		if got := srv.nth(t, i); got.err != nil || got.didResume != want {
			t.Errorf("server: connection %d resumed=%v err=%v, want resumed=%v", i+1, got.didResume, got.err, want)
		}
	}
	if gets, hits, stores := cache.counts(); gets != 1 || hits != 1 || stores != 1 {
		t.Errorf("hooks: %d gets, %d hits, %d stores; want 1 each", gets, hits, stores)
	}
}
