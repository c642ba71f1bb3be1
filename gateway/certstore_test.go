package gateway

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/tlsgate/tlsgate/gateway/natskv"
)

// certStorages returns two gateways' views of the fleet's certificate
// storage on g's embedded NATS, each connected with the gateway role (the
// bucket created by a deployer, as the embedding gateway does), and the
// bucket as a deployer sees it.
func certStorages(t *testing.T, g *Gateway, lease time.Duration) (a, b *natskv.CertStorage, raw jetstream.KeyValue) {
	t.Helper()
	ctx := context.Background()
	cfg := g.snap.Load().cfg
	connect := func(seed string) *natskv.Client {
		c, err := natskv.Connect(ctx, natskv.WithURL(g.NATSURL()), natskv.WithNkeySeedFile(seed), natskv.WithLogger(slog.New(slog.DiscardHandler)))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close(context.Background()) })
		return c
	}
	raw, err := connect(cfg.NATS.Embedded.DeployerNkeyFile).CertsKV(ctx, true)
	if err != nil {
		t.Fatal(err)
	}
	seal := certSealer{g.currentSealer}
	var st [2]*natskv.CertStorage
	for i, owner := range []string{"gateway-a", "gateway-b"} {
		kv, err := connect(cfg.NATS.Embedded.GatewayNkeyFile).CertsKV(ctx, false)
		if err != nil {
			t.Fatal(err)
		}
		st[i] = natskv.NewCertStorage(kv, seal, owner, lease)
	}
	return st[0], st[1], raw
}

// TestCertStorageInNATS: what one gateway stores, another loads; private
// keys never reach NATS in clear; directories list, stat and delete as
// certmagic expects; and a gateway's role writes the ACME keys but still
// not the registry's.
func TestCertStorageInNATS(t *testing.T) {
	cfg := testConfig(t, cacheTenant("a", "a.test"))
	cfg.NATS.Embedded.Listen = "127.0.0.1:0"
	g := startGateway(t, cfg)
	a, b, raw := certStorages(t, g, 0)
	ctx := context.Background()

	secret := []byte("-----BEGIN EC PRIVATE KEY-----\nnot really\n-----END EC PRIVATE KEY-----\n")
	files := map[string][]byte{
		"certificates/ca.test-directory/shop.test/shop.test.crt":  []byte("chain"),
		"certificates/ca.test-directory/shop.test/shop.test.key":  secret,
		"certificates/ca.test-directory/shop.test/shop.test.json": []byte("{}"),
		"acme/ca.test-directory/users/ops@shop.test/ops.key":      secret,
	}
	for k, v := range files {
		if err := a.Store(ctx, k, v); err != nil {
			t.Fatal(err)
		}
	}
	for k, v := range files {
		got, err := b.Load(ctx, k)
		if err != nil || !bytes.Equal(got, v) {
			t.Errorf("Load(%s) on the other gateway = %q, %v", k, got, err)
		}
	}
	lister, err := raw.ListKeys(ctx)
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for k := range lister.Keys() {
		e, err := raw.Get(ctx, k)
		if err != nil {
			t.Fatal(err)
		}
		if bytes.Contains(e.Value(), []byte("PRIVATE KEY")) {
			t.Errorf("NATS holds a private key in clear under %s", k)
		}
		n++
	}
	if n != len(files) {
		t.Errorf("%d entries in the bucket, want %d", n, len(files))
	}

	if _, err := b.Load(ctx, "certificates/none"); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("Load of a missing key: %v, want fs.ErrNotExist", err)
	}
	if !b.Exists(ctx, "certificates/ca.test-directory") || b.Exists(ctx, "certificates/other") {
		t.Error("Exists does not tell a directory from nothing")
	}
	if got, err := b.List(ctx, "certificates/ca.test-directory/shop.test", false); err != nil || len(got) != 3 {
		t.Errorf("List = %q, %v; want the three files", got, err)
	}
	if got, err := b.List(ctx, "certificates", false); err != nil || !slices.Equal(got, []string{"certificates/ca.test-directory"}) {
		t.Errorf("List(certificates) = %q, %v; want its one directory", got, err)
	}
	if got, err := b.List(ctx, "", true); err != nil || len(got) != len(files) {
		t.Errorf("List recursive = %q, %v", got, err)
	}
	if ki, err := b.Stat(ctx, "certificates/ca.test-directory/shop.test/shop.test.crt"); err != nil || !ki.IsTerminal || ki.Size != 5 || ki.Modified.IsZero() {
		t.Errorf("Stat = %+v, %v", ki, err)
	}
	if ki, err := b.Stat(ctx, "certificates/ca.test-directory"); err != nil || ki.IsTerminal {
		t.Errorf("Stat of a directory = %+v, %v", ki, err)
	}
	if err := b.Delete(ctx, "certificates"); err != nil {
		t.Fatal(err)
	}
	if a.Exists(ctx, "certificates/ca.test-directory/shop.test/shop.test.crt") || !a.Exists(ctx, "acme") {
		t.Error("Delete of a directory did not remove exactly what was under it")
	}

	// The registry's certificates share the bucket: the gateway's role
	// writes the ACME keys (above) but not the registry's, and a rollup
	// from a key it may write (which would empty the whole stream) is
	// refused.
	js := func(seed string) jetstream.JetStream {
		nk, err := nats.NkeyOptionFromSeed(seed)
		if err != nil {
			t.Fatal(err)
		}
		nc, err := nats.Connect(g.NATSURL(), nk)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(nc.Close)
		j, err := jetstream.New(nc)
		if err != nil {
			t.Fatal(err)
		}
		return j
	}
	deployer := natsClient(t, g.NATSURL(), cfg.NATS.Embedded.DeployerNkeyFile)
	if err := deployer.PutTenant(ctx, "shop", []byte("server_names: [shop.test]\n"), &natskv.TenantCert{Digest: "0123456789abcdef", Entry: []byte("entry")}); err != nil {
		t.Fatal(err)
	}
	gwJS := js(cfg.NATS.Embedded.GatewayNkeyFile)
	gwReg, err := gwJS.KeyValue(ctx, natskv.CertsBucket)
	if err != nil {
		t.Fatal(err)
	}
	// A denied publish is never acknowledged: the put fails when its
	// context ends, and the key must keep its value.
	wctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	if _, err := gwReg.Put(wctx, "tenant.shop.0123456789abcdef", []byte("forged")); err == nil {
		t.Error("a gateway's role wrote a registry certificate key")
	}
	rollup := nats.NewMsg("$KV." + natskv.CertsBucket + ".acme.v1.x")
	rollup.Header.Set("Nats-Rollup", "all")
	if _, err := gwJS.PublishMsg(ctx, rollup); err == nil {
		t.Error("the certificate bucket took a rollup from a gateway")
	}
	if got, err := deployer.TenantCertificate(ctx, "shop", "0123456789abcdef"); err != nil || string(got) != "entry" {
		t.Errorf("the registry's certificate after a gateway's forged write and rollup: %q, %v", got, err)
	}
	if !a.Exists(ctx, "acme") {
		t.Error("the ACME keys are gone after a refused rollup")
	}
}

// TestCertStorageLocks: a lock is one holder's at a time, across gateways;
// a holder's renewals keep it past its lease; and a lock whose holder died
// (its entry no longer renewed) is taken over once its lease runs out.
func TestCertStorageLocks(t *testing.T) {
	cfg := testConfig(t, cacheTenant("a", "a.test"))
	cfg.NATS.Embedded.Listen = "127.0.0.1:0"
	g := startGateway(t, cfg)
	const lease = 3 * time.Second
	a, b, raw := certStorages(t, g, lease)
	ctx := context.Background()

	if err := a.Lock(ctx, "issue_cert_shop.test"); err != nil {
		t.Fatal(err)
	}
	// Held past several leases by renewal: b cannot take it meanwhile.
	short, cancel := context.WithTimeout(ctx, 3*lease)
	err := b.Lock(short, "issue_cert_shop.test")
	cancel()
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("b took a lock a holds: %v", err)
	}
	if err := a.Unlock(ctx, "issue_cert_shop.test"); err != nil {
		t.Fatal(err)
	}
	wait, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	if err := b.Lock(wait, "issue_cert_shop.test"); err != nil {
		t.Fatalf("b could not take the released lock: %v", err)
	}
	if err := b.Unlock(ctx, "issue_cert_shop.test"); err != nil {
		t.Fatal(err)
	}

	// A gateway killed mid-issuance leaves its lock entry behind, renewed
	// no more: the other takes it over once it has seen the entry
	// unchanged for a lease, whatever expiry the dead holder's clock
	// wrote (here an hour ahead: clocks are never compared).
	dead, _ := json.Marshal(map[string]any{"owner": "killed", "expires": time.Now().Add(time.Hour)})
	if _, err := raw.Create(ctx, natskvLockKey("issue_cert_other.test"), dead); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	if err := a.Lock(wait, "issue_cert_other.test"); err != nil {
		t.Fatalf("the lock of a dead holder was never taken over: %v", err)
	}
	if took := time.Since(start); took < lease {
		t.Errorf("a dead holder's lock was taken after %v, before a lease (%v) without renewal", took, lease)
	}
	if err := a.Unlock(ctx, "issue_cert_other.test"); err != nil {
		t.Fatal(err)
	}
	if err := a.Unlock(ctx, "issue_cert_other.test"); err == nil {
		t.Error("Unlock of a lock not held succeeded")
	}
}

// natskvLockKey is the bucket key of a lock, as natskv.CertStorage names it
// (its key layout is what other gateways of the fleet read).
func natskvLockKey(name string) string {
	enc := base64.RawURLEncoding.EncodeToString
	return "acme.v1." + enc([]byte("locks")) + "." + enc([]byte(name))
}

// TestCertsBucketMadeBeforeItWasShared: a certificate bucket made by an
// earlier version (a KV stream with rollups, registry keys without their
// prefix) is converted when the gateway embedding NATS next starts: the
// registry's entries (a tenant named "tenant" too) are moved under their
// prefix and still read, keys of any other shape do not stop it, and
// rollups are refused from then on.
func TestCertsBucketMadeBeforeItWasShared(t *testing.T) {
	cfg := testConfig(t, cacheTenant("a", "a.test"))
	cfg.NATS.Embedded.Listen = "127.0.0.1:0"
	ctx := context.Background()
	g, err := New(ctx, cfg, WithLogger(testLogger(t)))
	if err != nil {
		t.Fatal(err)
	}
	nk, err := nats.NkeyOptionFromSeed(cfg.NATS.Embedded.DeployerNkeyFile)
	if err != nil {
		t.Fatal(err)
	}
	nc, err := nats.Connect(g.NATSURL(), nk)
	if err != nil {
		t.Fatal(err)
	}
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	// What an earlier version made: replace the bucket this one made.
	eventually(t, "the gateway made its certificate bucket", func() error {
		_, err := js.Stream(ctx, "KV_"+natskv.CertsBucket)
		return err
	})
	if err := js.DeleteStream(ctx, "KV_"+natskv.CertsBucket); err != nil {
		t.Fatal(err)
	}
	old, err := js.CreateKeyValue(ctx, jetstream.KeyValueConfig{Bucket: natskv.CertsBucket, History: 5})
	if err != nil {
		t.Fatal(err)
	}
	digest := strings.Repeat("ab", 32)
	for k, v := range map[string]string{"shop." + digest: "shop entry", "tenant." + digest: "tenant entry", "junk": "x", "a.b.c.d": "y"} {
		if _, err := old.Put(ctx, k, []byte(v)); err != nil {
			t.Fatal(err)
		}
	}
	nc.Close()
	if err := g.Close(ctx); err != nil {
		t.Fatal(err)
	}

	g = startGateway(t, cfg) // the same data dir: the same JetStream store
	deployer := natsClient(t, g.NATSURL(), cfg.NATS.Embedded.DeployerNkeyFile)
	eventually(t, "the registry's entries are moved under their prefix", func() error {
		for name, want := range map[string]string{"shop": "shop entry", "tenant": "tenant entry"} {
			if got, err := deployer.TenantCertificate(ctx, name, digest); err != nil || string(got) != want {
				return fmt.Errorf("%s: %q, %v", name, got, err)
			}
		}
		return nil
	})
	nc, err = nats.Connect(g.NATSURL(), nk)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	js, _ = jetstream.New(nc)
	info, err := js.Stream(ctx, "KV_"+natskv.CertsBucket)
	if err != nil {
		t.Fatal(err)
	}
	if info.CachedInfo().Config.AllowRollup {
		t.Error("the certificate bucket still allows rollups")
	}
}
