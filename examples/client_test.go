package examples_test

import (
	"bufio"
	"context"
	"crypto/tls"
	"crypto/x509"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// resumeWait bounds how long a test retries a resumption: sessions are
// stored asynchronously after the handshake, so the first resuming
// connection may come before the store. Generous: a retry ends as soon as
// one resumes, and a loaded machine is slow to store.
const resumeWait = 30 * time.Second

// retryResume calls try until it reports a resumed handshake or resumeWait
// passes, and returns the last attempt's description when it never resumed.
func retryResume(t *testing.T, try func() (resumed bool, what string)) {
	t.Helper()
	deadline := time.Now().Add(resumeWait)
	for {
		resumed, what := try()
		if resumed {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("no resumption within %s; last attempt: %s", resumeWait, what)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// opensslVersions are the s_client flags of the TLS versions tested.
var opensslVersions = []struct {
	name string
	flag string
}{
	{name: "TLS 1.3", flag: "-tls1_3"},
	{name: "TLS 1.2", flag: "-tls1_2"},
}

// opensslResume makes a full handshake with openssl s_client against addr,
// saving the session with -sess_out, then resumes it with -sess_in against
// resumeAddr, as the examples' READMEs show; it fails t unless openssl
// prints "Reused". Each connection sends one HTTP/1.0 request, so the
// server closes it after the response (and after the session ticket).
func opensslResume(t *testing.T, addr, resumeAddr, serverName, versionFlag string) {
	t.Helper()
	sess := filepath.Join(t.TempDir(), "session.pem")
	request := "GET / HTTP/1.0\r\nHost: " + serverName + "\r\n\r\n"
	args := func(a, sessFlag string) []string {
		return []string{"s_client", "-connect", a, "-servername", serverName, versionFlag,
			"-alpn", "http/1.1", "-ign_eof", sessFlag, sess}
	}
	out, err := runCommand(t, time.Minute, request, "openssl", args(addr, "-sess_out")...)
	if err != nil || !strings.Contains(out, "New, TLSv1.") {
		t.Fatalf("openssl s_client -sess_out: %v\n%s", err, out)
	}
	retryResume(t, func() (bool, string) {
		out, err := runCommand(t, time.Minute, request, "openssl", args(resumeAddr, "-sess_in")...)
		if err != nil {
			return false, err.Error() + "\n" + out
		}
		return strings.Contains(out, "Reused, TLSv1."), out
	})
}

// tenantRoots is a pool with the self-signed certificates the gateways
// generated for tenant into their data dirs, as a user would pass them to
// curl --cacert.
func tenantRoots(t *testing.T, tenant string, gws ...*gateway) *x509.CertPool {
	t.Helper()
	pool := x509.NewCertPool()
	for _, g := range gws {
		pem, err := os.ReadFile(filepath.Join(g.dataDir, "certs", tenant+".crt"))
		if err != nil {
			t.Fatal(err)
		}
		if !pool.AppendCertsFromPEM(pem) {
			t.Fatalf("no certificate in %s's certs/%s.crt", g.name, tenant)
		}
	}
	return pool
}

// goClient is Go's crypto/tls client with a session cache, verifying the
// gateway's certificate.
type goClient struct {
	serverName string
	roots      *x509.CertPool
	version    uint16
	cache      tls.ClientSessionCache
}

func newGoClient(serverName string, roots *x509.CertPool, version uint16) *goClient {
	return &goClient{serverName: serverName, roots: roots, version: version, cache: tls.NewLRUClientSessionCache(8)}
}

func (c *goClient) config() *tls.Config {
	return &tls.Config{ServerName: c.serverName, RootCAs: c.roots, ClientSessionCache: c.cache,
		MinVersion: c.version, MaxVersion: c.version}
}

// get makes one HTTPS GET / on a new connection to addr and returns the
// body and whether the handshake resumed a session.
func (c *goClient) get(t *testing.T, addr string) (body string, resumed bool, err error) {
	t.Helper()
	tr := &http.Transport{
		TLSClientConfig:   c.config(),
		DisableKeepAlives: true,
		DialContext: func(ctx context.Context, network, _ string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, network, addr)
		},
	}
	defer tr.CloseIdleConnections()
	client := &http.Client{Transport: tr, Timeout: 30 * time.Second}
	resp, err := client.Get("https://" + c.serverName + "/")
	if err != nil {
		return "", false, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return "", false, err
	}
	return string(b), resp.TLS != nil && resp.TLS.DidResume, nil
}

// echo sends line over a new TLS connection to addr and returns the line
// read back and whether the handshake resumed a session.
func (c *goClient) echo(t *testing.T, addr, line string) (reply string, resumed bool, err error) {
	t.Helper()
	d := &tls.Dialer{NetDialer: &net.Dialer{Timeout: 30 * time.Second}, Config: c.config()}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	conn, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return "", false, err
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(30 * time.Second))
	if _, err := io.WriteString(conn, line+"\n"); err != nil {
		return "", false, err
	}
	reply, err = bufio.NewReader(conn).ReadString('\n')
	return strings.TrimSuffix(reply, "\n"), conn.(*tls.Conn).ConnectionState().DidResume, err
}
