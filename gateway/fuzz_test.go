package gateway

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/tlsgate/tlsgate/gateway/config"
)

// fuzzSealer has two keys, so blobs can name a known key that is not the
// sealing one.
func fuzzSealer(f *testing.F) *sealer {
	s, err := newSealer([]config.SealingKey{
		{ID: "k2", Key: "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8="},
		{ID: "k1", Key: "HxwdHBsaGRgXFhUUExIREA8ODQwLCgkIBwYFBAMCAQA="},
	})
	if err != nil {
		f.Fatal(err)
	}
	return s
}

// What the store hands back is attacker-controlled: openBlob must never
// panic, and must open nothing it did not seal for that purpose, tenant and
// identifier.
func FuzzOpenBlob(f *testing.F) {
	s := fuzzSealer(f)
	id := bytes.Repeat([]byte{7}, 32)
	good := s.sealBlob([]byte("session state"), purposeStored, "a", id)
	f.Add(good, "a", id)
	f.Add(good[:len(good)-1], "a", id)
	f.Add(good, "b", id)
	f.Add([]byte{sealFormat, 2, 'k', '1'}, "a", id)
	f.Add([]byte{sealFormat, 255}, "a", []byte{})
	f.Add([]byte{}, "", []byte(nil))
	f.Fuzz(func(t *testing.T, blob []byte, tenant string, id2 []byte) {
		plain, err := s.openBlob(blob, purposeStored, tenant, id2)
		if err != nil {
			return
		}
		// Only a blob this key sealed (the seed's, with whatever nonce its
		// process drew) may open, and only for its tenant and identifier.
		if string(plain) != "session state" || tenant != "a" || !bytes.Equal(id2, id) {
			t.Fatalf("opened a blob it did not seal for this tenant and identifier: %q", plain)
		}
	})
}

// The binding travels inside sealed state, but decodeBinding must hold
// against any bytes: no panic, and what it decodes encodes back the same.
func FuzzDecodeBinding(f *testing.F) {
	f.Add(binding{Tenant: "a", ServerName: "a.test", ALPN: "h2", Created: time.Unix(1700000000, 0)}.encode())
	f.Add(append(append([]byte{}, bindingTag...), 0xff, 0xff))
	f.Add(bindingTag)
	f.Add([]byte("other/extra"))
	f.Fuzz(func(t *testing.T, e []byte) {
		b, ok := decodeBinding(e)
		if !ok {
			return
		}
		if again := b.encode(); !bytes.Equal(again, e) {
			t.Fatalf("decode then encode changed %x into %x", e, again)
		}
		if _, err := findBinding([][]byte{[]byte("x"), e}); err != nil {
			t.Fatalf("findBinding misses a binding decodeBinding accepts: %v", err)
		}
	})
}

// The config file is the operator's, but a config loader must not panic on
// any file, and anything it accepts must validate.
func FuzzLoadConfig(f *testing.F) {
	f.Add("tenants:\n  - {name: a, server_names: [a.test], certificate: {self_signed: true}, upstream: builtin}\n")
	f.Add("listeners: [{address: \"127.0.0.1:0\"}]\nlimits: {max_connections: -1}\n")
	f.Add("nats: {embedded: {listen: \"0.0.0.0:4222\"}}\n")
	f.Add("tenants: [{name: a, session_ttl: 24}]\n")
	f.Add(":\n\t- [")
	f.Fuzz(func(t *testing.T, yaml string) {
		p := filepath.Join(t.TempDir(), "tlsgate.yaml")
		if err := os.WriteFile(p, []byte(yaml), 0o600); err != nil {
			t.Fatal(err)
		}
		c, err := config.Load(config.Source{File: p})
		if err != nil {
			return
		}
		if err := c.Validate(); err != nil {
			t.Fatalf("Load returned a config that does not validate: %v", err)
		}
	})
}
