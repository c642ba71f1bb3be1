package natskv_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/tlsgate/tlsgate/gateway/natskv"
)

// users makes a gateway and a deployer seed in a test directory and
// returns the options that admit them and the seed files' paths.
func users(t *testing.T) (opts []natskv.ServerOption, gatewaySeed, deployerSeed string) {
	t.Helper()
	dir := t.TempDir()
	gatewaySeed, deployerSeed = filepath.Join(dir, "gateway.nk"), filepath.Join(dir, "deployer.nk")
	gw, err := natskv.LoadOrCreateNkey(gatewaySeed)
	if err != nil {
		t.Fatal(err)
	}
	dep, err := natskv.LoadOrCreateNkey(deployerSeed)
	if err != nil {
		t.Fatal(err)
	}
	return []natskv.ServerOption{natskv.WithNkeyUser(gw, natskv.RoleGateway), natskv.WithNkeyUser(dep, natskv.RoleDeployer)},
		gatewaySeed, deployerSeed
}

func TestClientPortRefusedWithoutAuthOrTLS(t *testing.T) {
	admit, _, _ := users(t)
	tests := []struct {
		name   string
		listen string
		opts   []natskv.ServerOption
		want   error
	}{
		{name: "loopback port without users", listen: "127.0.0.1:0", want: natskv.ErrOpenPort},
		{name: "every interface without TLS", listen: "0.0.0.0:0", opts: admit, want: natskv.ErrPlainRemotePort},
		{name: "empty host without TLS", listen: ":0", opts: admit, want: natskv.ErrPlainRemotePort},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			opts := append([]natskv.ServerOption{natskv.WithDataDir(t.TempDir()), natskv.WithClientListen(tt.listen)}, tt.opts...)
			s, err := natskv.StartEmbedded(context.Background(), opts...)
			if err == nil {
				closeServer(t, s)
			}
			if !errors.Is(err, tt.want) {
				t.Fatalf("StartEmbedded = %v, want %v", err, tt.want)
			}
		})
	}
}

func TestClientPortAuthenticatesAndConfinesGateways(t *testing.T) {
	admit, gatewaySeed, deployerSeed := users(t)
	s := startServer(t, append(admit, natskv.WithClientListen("127.0.0.1:0"))...)
	url := s.ClientURL()

	t.Run("anonymous client is refused", func(t *testing.T) {
		nc, err := nats.Connect(url, nats.Timeout(30*time.Second))
		if err == nil {
			nc.Close()
			t.Fatal("an anonymous client connected to the client port")
		}
		if !strings.Contains(strings.ToLower(err.Error()), "authorization") {
			t.Errorf("error %q does not say authorization", err)
		}
	})
	t.Run("unknown nkey is refused", func(t *testing.T) {
		stranger := filepath.Join(t.TempDir(), "stranger.nk")
		if _, err := natskv.LoadOrCreateNkey(stranger); err != nil {
			t.Fatal(err)
		}
		nk, err := nats.NkeyOptionFromSeed(stranger)
		if err != nil {
			t.Fatal(err)
		}
		if nc, err := nats.Connect(url, nk, nats.Timeout(30*time.Second)); err == nil {
			nc.Close()
			t.Fatal("a client with an nkey the server does not know connected")
		}
	})
	gw := connect(t, natskv.WithURL(url), natskv.WithNkeySeedFile(gatewaySeed))
	dep := connect(t, natskv.WithURL(url), natskv.WithNkeySeedFile(deployerSeed))
	eventually(t, time.Minute, "both clients connected", func() error {
		if !gw.Connected() || !dep.Connected() {
			return errors.New("not connected")
		}
		return nil
	})
	t.Run("gateway uses session buckets", func(t *testing.T) {
		// Made by a deployer (in a gateway: the one embedding the server);
		// a gateway's user finds it.
		if err := dep.EnsureSessions(opCtx(t), "file", 1); err != nil {
			t.Fatal(err)
		}
		b := bucket(t, gw, "acme")
		eventually(t, time.Minute, "put", func() error { return b.Put(opCtx(t), "k", []byte("sealed"), 0) })
		if v, err := b.Get(opCtx(t), "k"); err != nil || string(v) != "sealed" {
			t.Fatalf("Get = %q, %v", v, err)
		}
	})
	t.Run("gateway cannot create or change streams", func(t *testing.T) {
		// A stream republishing into the registry would let a gateway
		// write it behind its permissions; so would the sessions stream
		// changed to republish.
		nk, err := nats.NkeyOptionFromSeed(gatewaySeed)
		if err != nil {
			t.Fatal(err)
		}
		nc, err := nats.Connect(url, nk)
		if err != nil {
			t.Fatal(err)
		}
		defer nc.Close()
		js, _ := jetstream.New(nc)
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
		defer cancel()
		evil := jetstream.StreamConfig{Name: "evil", Subjects: []string{"evil.>"},
			RePublish: &jetstream.RePublish{Source: "evil.>", Destination: "$KV." + natskv.TenantsBucket + ".{{wildcard(1)}}"}}
		if _, err := js.CreateStream(ctx, evil); err == nil {
			t.Fatal("a gateway's user created a stream")
		}
		sessions, err := js.Stream(opCtx(t), "KV_"+natskv.SessionsBucket)
		if err != nil {
			t.Fatal(err)
		}
		changed := sessions.CachedInfo().Config
		changed.RePublish = &jetstream.RePublish{Source: ">", Destination: "$KV." + natskv.TenantsBucket + ".x"}
		ctx2, cancel2 := context.WithTimeout(context.Background(), 3*time.Second)
		defer cancel2()
		if _, err := js.UpdateStream(ctx2, changed); err == nil {
			t.Fatal("a gateway's user changed the sessions stream")
		}
		dk, err := nats.NkeyOptionFromSeed(deployerSeed)
		if err != nil {
			t.Fatal(err)
		}
		dc, err := nats.Connect(url, dk)
		if err != nil {
			t.Fatal(err)
		}
		defer dc.Close()
		depJS, _ := jetstream.New(dc)
		if _, err := depJS.Stream(opCtx(t), "evil"); !errors.Is(err, jetstream.ErrStreamNotFound) {
			t.Errorf("the refused stream exists: %v", err)
		}
		if st, err := depJS.Stream(opCtx(t), "KV_"+natskv.SessionsBucket); err != nil || st.CachedInfo().Config.RePublish != nil {
			t.Errorf("the sessions stream after the refused change: %v", err)
		}
	})
	t.Run("gateway cannot deploy a guest", func(t *testing.T) {
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
		defer cancel()
		if _, err := gw.PutGuestModule(ctx, "evil", []byte("\x00asm")); !errors.Is(err, natskv.ErrPermissionDenied) {
			t.Fatalf("a gateway's user deploying a guest: %v, want ErrPermissionDenied", err)
		}
		if list, err := dep.GuestModules(opCtx(t)); err != nil || len(list) != 0 {
			t.Fatalf("after the refused push: GuestModules = %v, %v; want none", list, err)
		}
	})
	t.Run("deployer deploys, gateway reads", func(t *testing.T) {
		if _, err := dep.PutGuestModule(opCtx(t), "cache", []byte("module bytes")); err != nil {
			t.Fatal(err)
		}
		b, err := gw.GuestModule(opCtx(t), "cache")
		if err != nil || string(b) != "module bytes" {
			t.Fatalf("gateway GuestModule = %q, %v", b, err)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
		defer cancel()
		if _, err := gw.PutGuestModule(ctx, "cache", []byte("replaced")); !errors.Is(err, natskv.ErrPermissionDenied) {
			t.Fatalf("a gateway's user replacing a guest: %v, want ErrPermissionDenied", err)
		}
		if b, _ := gw.GuestModule(opCtx(t), "cache"); string(b) != "module bytes" {
			t.Fatalf("after the refused replacement the module is %q", b)
		}
	})
}

func TestClientPortServesTLS(t *testing.T) {
	admit, _, deployerSeed := users(t)
	cert, pool := selfSigned(t)
	s := startServer(t, append(admit, natskv.WithClientListen("127.0.0.1:0"),
		natskv.WithServerTLS(&tls.Config{Certificates: []tls.Certificate{cert}}))...)
	url := strings.Replace(s.ClientURL(), "nats://", "tls://", 1)

	if nc, err := nats.Connect(url, nats.RootCAs(), nats.Timeout(30*time.Second)); err == nil {
		nc.Close()
		t.Fatal("a client that does not trust the server's certificate connected")
	}
	c := connect(t, natskv.WithURL(url), natskv.WithNkeySeedFile(deployerSeed), // may create the bucket
		natskv.WithTLSConfig(&tls.Config{RootCAs: pool, ServerName: "127.0.0.1"}))
	b := bucket(t, c, "acme")
	eventually(t, time.Minute, "put over TLS", func() error { return b.Put(opCtx(t), "k", []byte("v"), 0) })
}

func TestLoadOrCreateNkey(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "sub", "gw.nk")
	pub, err := natskv.LoadOrCreateNkey(path)
	if err != nil || !strings.HasPrefix(pub, "U") {
		t.Fatalf("first call = %q, %v; want a new user key", pub, err)
	}
	if fi, err := os.Stat(path); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("seed file: %v, mode %v; want 0600", err, fi.Mode().Perm())
	}
	again, err := natskv.LoadOrCreateNkey(path)
	if err != nil || again != pub {
		t.Fatalf("second call = %q, %v; want the same key %q", again, err, pub)
	}
	tests := []struct {
		name    string
		content string
		mode    os.FileMode
	}{
		{name: "not a seed", content: "hello\n", mode: 0o600},
		{name: "readable by others", content: mustRead(t, path), mode: 0o644},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := filepath.Join(t.TempDir(), "bad.nk")
			if err := os.WriteFile(p, []byte(tt.content), tt.mode); err != nil {
				t.Fatal(err)
			}
			os.Chmod(p, tt.mode)
			if _, err := natskv.LoadOrCreateNkey(p); !errors.Is(err, natskv.ErrSeedFile) || !strings.Contains(err.Error(), p) {
				t.Fatalf("LoadOrCreateNkey = %v; want ErrSeedFile naming %s", err, p)
			}
		})
	}
}

func mustRead(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// selfSigned returns a certificate for 127.0.0.1 and a pool that trusts it.
func selfSigned(t *testing.T) (tls.Certificate, *x509.CertPool) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1),
		Subject:      pkix.Name{CommonName: "nats test"},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(time.Hour),
		IPAddresses:  []net.IP{net.IPv4(127, 0, 0, 1)},
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	leaf, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(leaf)
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key, Leaf: leaf}, pool
}
