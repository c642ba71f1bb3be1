package sessionidtest

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"math/big"
	"net"
	"sync"
	"testing"
	"time"
)

// handshake is what the server saw of one connection.
type handshake struct {
	version   uint16
	didResume bool
	err       error
}

// testServer is a TLS server on 127.0.0.1 that completes the handshake,
// writes "ok\n" and closes each connection.
type testServer struct {
	addr    string
	certPEM []byte // the self-signed server certificate, for clients to trust

	mu         sync.Mutex
	handshakes []handshake
}

// newTestCertificate makes a self-signed ECDSA P-256 certificate for
// 127.0.0.1 and localhost.
func newTestCertificate(t *testing.T) (tls.Certificate, []byte) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "tlsgate sessionidtest"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(30 * 24 * time.Hour),
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		IsCA:                  true,
		DNSNames:              []string{"localhost"},
		IPAddresses:           []net.IP{net.IPv4(127, 0, 0, 1)},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key},
		pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
}

// startServer serves cfg (with a test certificate added) until the test ends.
func startServer(t *testing.T, cfg *tls.Config) *testServer {
	t.Helper()
	cert, certPEM := newTestCertificate(t)
	cfg.Certificates = []tls.Certificate{cert}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := &testServer{addr: ln.Addr().String(), certPEM: certPEM}
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			conn, err := ln.Accept()
			if err != nil {
				return // listener closed
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				s.serve(tls.Server(conn, cfg))
			}()
		}
	}()
	t.Cleanup(func() {
		ln.Close()
		wg.Wait()
	})
	return s
}

// serve handshakes, records the outcome, answers and closes.
func (s *testServer) serve(conn *tls.Conn) {
	defer conn.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second) // generous: a busy machine
	defer cancel()
	conn.SetDeadline(time.Now().Add(30 * time.Second))
	err := conn.HandshakeContext(ctx)
	cs := conn.ConnectionState()
	s.mu.Lock()
	s.handshakes = append(s.handshakes, handshake{version: cs.Version, didResume: cs.DidResume, err: err})
	s.mu.Unlock()
	if err == nil {
		conn.Write([]byte("ok\n"))
	}
}

// seen returns the handshakes so far, waiting (up to 30 s, generous for a
// loaded machine) for want of them: a client may exit before the server
// goroutine records its side.
func (s *testServer) seen(t *testing.T, want int) []handshake {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		s.mu.Lock()
		hs := append([]handshake(nil), s.handshakes...)
		s.mu.Unlock()
		if len(hs) >= want || time.Now().After(deadline) {
			return hs
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// errNoHandshake is reported for a server handshake a client never made.
var errNoHandshake = errors.New("sessionidtest: no such handshake")

// nth returns the server's view of the i-th connection (from 0).
func (s *testServer) nth(t *testing.T, i int) handshake {
	t.Helper()
	hs := s.seen(t, i+1)
	if i >= len(hs) {
		return handshake{err: errNoHandshake}
	}
	return hs[i]
}
