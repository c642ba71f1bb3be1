package bench

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
	"time"
)

// nginxConfig is a one-process nginx serving TLS on 127.0.0.1 with a shared
// session cache; %[1]s is the working directory, %[2]d the port and %[3]s
// "on" or "off" for session tickets.
const nginxConfig = `daemon off;
master_process off;
worker_processes 1;
pid %[1]s/nginx.pid;
error_log %[1]s/error.log warn;
events { worker_connections 256; }
http {
	access_log off;
	client_body_temp_path %[1]s/body;
	proxy_temp_path %[1]s/proxy;
	fastcgi_temp_path %[1]s/fastcgi;
	uwsgi_temp_path %[1]s/uwsgi;
	scgi_temp_path %[1]s/scgi;
	ssl_session_cache shared:SSL:1m;
	ssl_session_tickets %[3]s;
	server {
		listen 127.0.0.1:%[2]d ssl;
		server_name localhost;
		ssl_certificate %[1]s/cert.pem;
		ssl_certificate_key %[1]s/key.pem;
		ssl_protocols TLSv1.2 TLSv1.3;
		location / { return 200 "ok\n"; }
	}
}
`

// nginxPath finds Debian's nginx; /usr/sbin is often not on a user's PATH.
func nginxPath(t *testing.T) string {
	t.Helper()
	if p, err := exec.LookPath("nginx"); err == nil {
		return p
	}
	if _, err := os.Stat("/usr/sbin/nginx"); err == nil {
		return "/usr/sbin/nginx"
	}
	t.Fatal("nginx is not installed: apt-get install nginx (or nginx-light) to run the nginx tests")
	return ""
}

// startNginx runs nginx on a free 127.0.0.1 port and returns its address and
// process id; it is stopped when the test ends.
func startNginx(t *testing.T, tickets bool) (addr string, pid int) {
	t.Helper()
	bin := nginxPath(t)
	dir := t.TempDir()
	writeSelfSigned(t, filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem"))
	port := freePort(t)
	onOff := map[bool]string{true: "on", false: "off"}[tickets]
	conf := filepath.Join(dir, "nginx.conf")
	if err := os.WriteFile(conf, fmt.Appendf(nil, nginxConfig, dir, port, onOff), 0o600); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, "-p", dir, "-c", conf, "-e", filepath.Join(dir, "error.log"))
	if err := cmd.Start(); err != nil {
		t.Fatalf("start nginx: %v", err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	t.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-exited:
		case <-time.After(5 * time.Second):
			_ = cmd.Process.Kill()
			<-exited
		}
	})

	addr = fmt.Sprintf("127.0.0.1:%d", port)
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		select {
		case err := <-exited:
			log, _ := os.ReadFile(filepath.Join(dir, "error.log"))
			t.Fatalf("nginx exited at start: %v\n%s", err, log)
		default:
		}
		if c, err := net.DialTimeout("tcp", addr, 100*time.Millisecond); err == nil {
			c.Close()
			return addr, cmd.Process.Pid
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("nginx did not listen on %s within 30s", addr)
	return "", 0
}

// freePort returns a 127.0.0.1 port that was free a moment ago.
func freePort(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// writeSelfSigned writes a self-signed ECDSA P-256 certificate for
// localhost and 127.0.0.1 and its key as PEM files.
func writeSelfSigned(t *testing.T, certFile, keyFile string) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1),
		Subject:      pkix.Name{CommonName: "localhost"},
		DNSNames:     []string{"localhost"},
		IPAddresses:  []net.IP{net.IPv4(127, 0, 0, 1)},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(24 * time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	err = errors.Join(
		os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600),
		os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER}), 0o600),
	)
	if err != nil {
		t.Fatal(err)
	}
}

func TestResumptionAgainstNginx(t *testing.T) {
	tests := []struct {
		name        string
		tickets     bool
		args        []string
		wantResumed float64
	}{
		{name: "resume TLS 1.2 with tickets", tickets: true, args: []string{"--mode", "resume", "--tls", "1.2"}, wantResumed: 100},
		{name: "resume TLS 1.3 with tickets", tickets: true, args: []string{"--mode", "resume", "--tls", "1.3"}, wantResumed: 100},
		{name: "resume TLS 1.3 with request", tickets: true, args: []string{"--mode", "resume", "--tls", "1.3", "--send-request"}, wantResumed: 100},
		// Go's client cannot resume by Session ID: nginx's session cache
		// alone gives it nothing in TLS 1.2.
		{name: "resume TLS 1.2 by Session ID only", tickets: false, args: []string{"--mode", "resume", "--tls", "1.2"}, wantResumed: 0},
		// In TLS 1.3 OpenSSL issues stateful tickets from the session cache
		// even with ssl_session_tickets off.
		{name: "resume TLS 1.3 from the session cache", tickets: false, args: []string{"--mode", "resume", "--tls", "1.3"}, wantResumed: 100},
		{name: "full TLS 1.3", tickets: true, args: []string{"--mode", "full", "--tls", "1.3"}, wantResumed: 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			addr, pid := startNginx(t, tt.tickets)
			args := append([]string{"--addr", addr, "--sni", "localhost", "--count", "60", "--concurrency", "2",
				"--server-pid", fmt.Sprint(pid)}, tt.args...)
			rep := runJSON(t, args...)
			if rep.Handshakes != 60 || rep.ErrorsTotal != 0 {
				t.Fatalf("handshakes = %d, errors = %v; want 60 handshakes, no errors", rep.Handshakes, rep.Errors)
			}
			if rep.ResumedPercent != tt.wantResumed {
				t.Errorf("resumed_percent = %v, want %v", rep.ResumedPercent, tt.wantResumed)
			}
			if rep.ServerCPU == nil || rep.ServerCPU.PID != pid {
				t.Errorf("server_cpu = %+v, want figures for nginx pid %d", rep.ServerCPU, pid)
			}
		})
	}
}
