package gateway

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/tlsgate/tlsgate/gateway/config"
	"github.com/tlsgate/tlsgate/gateway/natskv"
)

// registryGateway is a gateway serving the tenant registry beside its file
// tenant "web", with its embedded NATS on a loopback port, and a deployer's
// client of it.
func registryGateway(t *testing.T) (*Gateway, *natskv.Client) {
	t.Helper()
	cfg := testConfig(t, cacheTenant("web", "web.test"))
	cfg.NATS.Embedded.Listen = "127.0.0.1:0"
	cfg.Registry.Enabled = true
	g := startGateway(t, cfg)
	return g, natsClient(t, g.NATSURL(), cfg.NATS.Embedded.DeployerNkeyFile)
}

func natsClient(t *testing.T, url, seed string) *natskv.Client {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	c, err := natskv.Connect(ctx, natskv.WithURL(url), natskv.WithNkeySeedFile(seed), natskv.WithLogger(testLogger(t)))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close(context.Background()) })
	for i := 0; !c.Connected(); i++ {
		if i == 3000 {
			t.Fatal("the client did not connect to the gateway's NATS in 30s")
		}
		time.Sleep(10 * time.Millisecond)
	}
	return c
}

// certFilesFor writes a self-signed certificate for names into a test
// directory.
func certFilesFor(t *testing.T, names ...string) (certFile, keyFile string) {
	t.Helper()
	dir := t.TempDir()
	certFile, keyFile = filepath.Join(dir, "c.crt"), filepath.Join(dir, "c.key")
	if err := WriteSelfSigned(certFile, keyFile, names, "ecdsa"); err != nil {
		t.Fatal(err)
	}
	return certFile, keyFile
}

// putTenant validates and writes a tenant document the way tlsgate tenant
// put does.
func putTenant(t *testing.T, g *Gateway, c *natskv.Client, doc string) RegistryTenant {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	rt, err := PrepareTenant(ctx, g.snap.Load().cfg.Sealing.Keys, c, filepath.Join(t.TempDir(), "tenant.yaml"), []byte(doc))
	if err != nil {
		t.Fatal(err)
	}
	if err := c.PutTenant(ctx, rt.Name, rt.Doc, rt.Certificate); err != nil {
		t.Fatal(err)
	}
	return rt
}

// eventually retries check until it returns nil, for at most a minute
// (the registry applies a change within about a second; a busy machine
// may take longer).
func eventually(t *testing.T, what string, check func() error) {
	t.Helper()
	var err error
	for deadline := time.Now().Add(time.Minute); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		if err = check(); err == nil {
			return
		}
	}
	t.Fatalf("%s: %v", what, err)
}

// servesCert is a check that sni is served with the certificate in certFile.
func servesCert(g *Gateway, sni, certFile string) func() error {
	return func() error {
		want, err := os.ReadFile(certFile)
		if err != nil {
			return err
		}
		block, _ := pem.Decode(want)
		v, err := tryDial(g.addr(), clientOpts{sni: sni, version: tls.VersionTLS13})
		if err != nil {
			return err
		}
		if got := v.state.PeerCertificates[0].Raw; !bytes.Equal(got, block.Bytes) {
			return fmt.Errorf("served a certificate for %q, not the one put", v.state.PeerCertificates[0].DNSNames)
		}
		return nil
	}
}

func shopDoc(certFile, keyFile, module string) string {
	return fmt.Sprintf("name: shop\nserver_names: [shop.test]\nupstream: builtin\ncertificate: {cert_file: %s, key_file: %s}\nguest: {module: %q}\n",
		certFile, keyFile, module)
}

// A tenant put in the registry is served, with its certificate from NATS,
// and resumes; a changed certificate is served after the change; a
// document that does not build is refused while the version in force
// keeps serving; a removed tenant is no longer served.
func TestRegistryPutChangeRemove(t *testing.T) {
	g, deployer := registryGateway(t)
	webPool := g.snap.Load().tenant("web").pool
	crt1, key1 := certFilesFor(t, "shop.test")
	first := putTenant(t, g, deployer, shopDoc(crt1, key1, config.BuiltinSessionCache))
	eventually(t, "the put tenant is served with its certificate", servesCert(g, "shop.test", crt1))
	for _, v := range []uint16{tls.VersionTLS13, tls.VersionTLS12} {
		if _, second := resumeOnce(t, g, g.addr(), clientOpts{sni: "shop.test", version: v}); !second.state.DidResume {
			t.Errorf("%s: a registry tenant's session did not resume", tls.VersionName(v))
		}
	}
	if g.snap.Load().tenant("web").pool != webPool {
		t.Error("a registry change rebuilt the file tenant's pool")
	}

	crt2, key2 := certFilesFor(t, "shop.test")
	putTenant(t, g, deployer, shopDoc(crt2, key2, config.BuiltinSessionCache))
	eventually(t, "the changed certificate is served", servesCert(g, "shop.test", crt2))
	if _, err := deployer.TenantCertificate(context.Background(), "shop", first.Certificate.Digest); !errors.Is(err, natskv.ErrTenantNotFound) {
		t.Errorf("the replaced certificate entry is still in NATS: %v", err)
	}

	// Documents that do not build here, written past tlsgate tenant put's
	// checks: a guest that is not deployed, and a certificate entry that is
	// not the one the document names.
	before := counterValue(t, g, "tlsgate_registry_changes_total", "result", "refused")
	ctx := context.Background()
	good, err := deployer.TenantDoc(ctx, "shop")
	if err != nil {
		t.Fatal(err)
	}
	missing := bytes.Replace(good, []byte(config.BuiltinSessionCache), []byte("nats:not-deployed"), 1)
	if err := deployer.PutTenant(ctx, "shop", missing, nil); err != nil {
		t.Fatal(err)
	}
	eventually(t, "the bad document is counted refused", func() error {
		if n := counterValue(t, g, "tlsgate_registry_changes_total", "result", "refused"); n < before+1 {
			return fmt.Errorf("refused %v, want %v", n, before+1)
		}
		return nil
	})
	if err := servesCert(g, "shop.test", crt2)(); err != nil {
		t.Errorf("after a bad document, the previous version: %v", err)
	}
	crt3, key3 := certFilesFor(t, "shop.test")
	other := putTenantDryRun(t, g, deployer, shopDoc(crt3, key3, config.BuiltinSessionCache))
	if err := deployer.PutTenant(ctx, "shop", other.Doc, nil); err != nil { // names crt3's entry, which is not in NATS
		t.Fatal(err)
	}
	eventually(t, "the mismatched certificate is refused", func() error {
		if n := counterValue(t, g, "tlsgate_registry_changes_total", "result", "refused"); n < before+2 {
			return fmt.Errorf("refused %v, want %v", n, before+2)
		}
		return nil
	})
	if err := servesCert(g, "shop.test", crt2)(); err != nil {
		t.Errorf("after a mismatched certificate, the previous version: %v", err)
	}

	if err := deployer.DeleteTenant(ctx, "shop"); err != nil {
		t.Fatal(err)
	}
	eventually(t, "the removed tenant is no longer served", func() error {
		if _, err := tryDial(g.addr(), clientOpts{sni: "shop.test", version: tls.VersionTLS13}); err == nil {
			return errors.New("shop.test still answers")
		}
		return nil
	})
	if _, err := tryDial(g.addr(), clientOpts{sni: "web.test", version: tls.VersionTLS13}); err != nil {
		t.Errorf("the file tenant after the registry tenant went: %v", err)
	}
}

func putTenantDryRun(t *testing.T, g *Gateway, c *natskv.Client, doc string) RegistryTenant {
	t.Helper()
	rt, err := PrepareTenant(context.Background(), g.snap.Load().cfg.Sealing.Keys, c, filepath.Join(t.TempDir(), "t.yaml"), []byte(doc))
	if err != nil {
		t.Fatal(err)
	}
	return rt
}

// NATS never holds a registry tenant's private key in clear, and a
// gateway's NATS user may not change the registry.
func TestRegistryKeysSealedAndWritesDenied(t *testing.T) {
	g, deployer := registryGateway(t)
	crt, key := certFilesFor(t, "shop.test")
	rt := putTenant(t, g, deployer, shopDoc(crt, key, config.BuiltinSessionCache))
	entry, err := deployer.TenantCertificate(context.Background(), "shop", rt.Certificate.Digest)
	if err != nil {
		t.Fatal(err)
	}
	keyPEM, err := os.ReadFile(key)
	if err != nil {
		t.Fatal(err)
	}
	block, _ := pem.Decode(keyPEM)
	priv, err := x509.ParsePKCS8PrivateKey(block.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	der, _ := x509.MarshalPKCS8PrivateKey(priv)
	for name, secret := range map[string][]byte{"key PEM": keyPEM, "key DER": der, "PEM body": keyPEM[28 : len(keyPEM)-30]} {
		if bytes.Contains(entry, secret) || bytes.Contains(rt.Doc, secret) || bytes.Contains(rt.Certificate.Entry, secret) {
			t.Errorf("the registry holds the private key's %s in clear", name)
		}
	}

	gw := natsClient(t, g.NATSURL(), g.snap.Load().cfg.NATS.Embedded.GatewayNkeyFile)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := gw.PutTenant(ctx, "evil", rt.Doc, nil); !errors.Is(err, natskv.ErrPermissionDenied) {
		t.Errorf("a gateway's user putting a tenant: %v, want ErrPermissionDenied", err)
	}
	if err := gw.DeleteTenant(ctx, "shop"); !errors.Is(err, natskv.ErrPermissionDenied) {
		t.Errorf("a gateway's user removing a tenant: %v, want ErrPermissionDenied", err)
	}
	if names, err := gw.TenantNames(ctx); err != nil || len(names) != 1 {
		t.Errorf("a gateway's user listing the registry: %q, %v", names, err)
	}
}

// A registry tenant may not take a file tenant's name or server names.
func TestRegistryTenantClashIsRefused(t *testing.T) {
	g, deployer := registryGateway(t)
	before := counterValue(t, g, "tlsgate_registry_changes_total", "result", "refused")
	crt, key := certFilesFor(t, "web.test")
	putTenant(t, g, deployer, fmt.Sprintf("name: thief\nserver_names: [web.test]\nupstream: builtin\ncertificate: {cert_file: %s, key_file: %s}\n", crt, key))
	eventually(t, "the clash is refused", func() error {
		if n := counterValue(t, g, "tlsgate_registry_changes_total", "result", "refused"); n < before+1 {
			return fmt.Errorf("refused %v", n)
		}
		return nil
	})
	if g.snap.Load().tenant("thief") != nil {
		t.Error("a registry tenant took a file tenant's server name")
	}
}

// Two gateways sharing one NATS (the second joins the first's embedded
// server, as a fleet does): a tenant put once is served by both, and a
// session made on one resumes on the other.
func TestRegistryAcrossTwoGateways(t *testing.T) {
	gA, deployer := registryGateway(t)
	cfgA := gA.snap.Load().cfg
	cfgB := testConfig(t, cacheTenant("web", "web.test"))
	cfgB.NATS = config.NATS{URL: gA.NATSURL(), NkeyFile: cfgA.NATS.Embedded.GatewayNkeyFile, Storage: "memory", Replicas: 1}
	cfgB.Registry.Enabled = true
	cfgB.FillDefaults()
	gB := startGateway(t, cfgB)

	crt, key := certFilesFor(t, "shop.test")
	putTenant(t, gA, deployer, shopDoc(crt, key, config.BuiltinSessionCache))
	eventually(t, "gateway A serves the tenant", servesCert(gA, "shop.test", crt))
	eventually(t, "gateway B serves the tenant", servesCert(gB, "shop.test", crt))
	for _, v := range []uint16{tls.VersionTLS13, tls.VersionTLS12} {
		if _, second := resumeOnce(t, gA, gB.addr(), clientOpts{sni: "shop.test", version: v}); !second.state.DidResume {
			t.Errorf("%s: a session of the registry tenant made on A did not resume on B", tls.VersionName(v))
		}
	}
}

// A reload of the configuration file keeps the registry's tenants, and
// their guest side, as they were.
func TestFileReloadKeepsRegistryTenants(t *testing.T) {
	g, deployer := registryGateway(t)
	crt, key := certFilesFor(t, "shop.test")
	putTenant(t, g, deployer, shopDoc(crt, key, config.BuiltinSessionCache))
	eventually(t, "the put tenant is served", servesCert(g, "shop.test", crt))
	pool := g.snap.Load().tenant("shop").pool
	cfg := *g.snap.Load().cfg
	cfg.Tenants = append(cfg.Tenants, cacheTenant("blog", "blog.test"))
	cfg.FillDefaults()
	if err := g.Reload(context.Background(), &cfg); err != nil {
		t.Fatal(err)
	}
	if got := g.snap.Load().tenant("shop"); got == nil || got.pool != pool {
		t.Fatal("a file reload dropped or rebuilt the registry tenant")
	}
	if err := servesCert(g, "shop.test", crt)(); err != nil {
		t.Error(err)
	}
	dial(t, g.addr(), clientOpts{sni: "blog.test", version: tls.VersionTLS13})
}

func selfSignedDoc(name, sni string) string {
	return "name: " + name + "\nserver_names: [" + sni + "]\nupstream: builtin\ncertificate: {self_signed: true}\n"
}

// A batch in which one tenant gives up a server name and another takes it
// applies both, whatever their names' order.
func TestRegistryMovesANameInOneBatch(t *testing.T) {
	g, deployer := registryGateway(t)
	ctx := context.Background()
	change := func(name, sni string) natskv.TenantChange {
		return natskv.TenantChange{Name: name, Doc: putTenantDryRun(t, g, deployer, selfSignedDoc(name, sni)).Doc}
	}
	g.applyRegistry(ctx, map[string]natskv.TenantChange{"b": change("b", "x.test")}, nil, nil, false)
	refused := g.applyRegistry(ctx, map[string]natskv.TenantChange{"b": change("b", "y.test"), "a": change("a", "x.test")}, nil, nil, false)
	if len(refused) != 0 || g.snap.Load().tenant("a") == nil {
		t.Fatalf("a, taking the name b gives up in the same batch, was refused: %v", refused)
	}
	if got := g.snap.Load().tenant("b").cfg.ServerNames; len(got) != 1 || got[0] != "y.test" {
		t.Errorf("b serves %q", got)
	}
}

// After a watch had to be set up again, a tenant the registry no longer
// holds is removed, even when a change of it was still queued.
func TestRegistryResyncRemovesWhatWasDeleted(t *testing.T) {
	g, deployer := registryGateway(t)
	ctx := context.Background()
	x1 := putTenantDryRun(t, g, deployer, selfSignedDoc("x", "x.test"))
	g.applyRegistry(ctx, map[string]natskv.TenantChange{"x": {Name: "x", Doc: x1.Doc}}, nil, nil, false)
	w := &registryWatch{g: g, pending: map[string]natskv.TenantChange{}, refused: map[string]natskv.TenantChange{}, wake: make(chan struct{}, 1)}
	x2 := putTenantDryRun(t, g, deployer, selfSignedDoc("x", "x2.test"))
	w.changed(natskv.TenantChange{Name: "x", Doc: x2.Doc}) // queued, then the watch ends
	w.mu.Lock()
	w.syncing, w.initial = true, map[string]bool{} // the new watch delivers nothing of x
	w.mu.Unlock()
	w.doneSyncing()
	g.applyRegistry(ctx, w.pending, w.seen, nil, true)
	if g.snap.Load().tenant("x") != nil {
		t.Error("x, deleted from the registry while no watch ran, is still served")
	}
}

// A registry tenant dropped because a file tenant took its name comes back
// once the file tenant goes; and a registry tenant may not take a name
// within a file tenant's wildcard.
func TestRegistryTenantsAndFileTenantsShareNames(t *testing.T) {
	g, deployer := registryGateway(t)
	ctx := context.Background()
	putTenant(t, g, deployer, selfSignedDoc("shop", "shop.test"))
	served := func(name string, want bool) func() error {
		return func() error {
			if got := g.snap.Load().tenant(name) != nil; got != want {
				return fmt.Errorf("tenant %s served: %v, want %v", name, got, want)
			}
			return nil
		}
	}
	eventually(t, "the registry tenant is served", served("shop", true))
	plain := *g.snap.Load().cfg
	clash := plain
	clash.Tenants = append(append([]config.Tenant{}, plain.Tenants...), cacheTenant("blog", "shop.test"))
	clash.FillDefaults()
	if err := g.Reload(ctx, &clash); err != nil {
		t.Fatal(err)
	}
	if err := served("shop", false)(); err != nil {
		t.Fatal(err)
	}
	if err := g.Reload(ctx, &plain); err != nil {
		t.Fatal(err)
	}
	eventually(t, "the registry tenant is back once the file tenant went", served("shop", true))

	wild := plain
	wild.Tenants = append(append([]config.Tenant{}, plain.Tenants...), cacheTenant("all", "*.all.test"))
	wild.FillDefaults()
	if err := g.Reload(ctx, &wild); err != nil {
		t.Fatal(err)
	}
	refused := g.applyRegistry(ctx, map[string]natskv.TenantChange{"one": {Name: "one",
		Doc: putTenantDryRun(t, g, deployer, selfSignedDoc("one", "one.all.test")).Doc}}, nil, nil, false)
	if _, ok := refused["one"]; !ok || g.snap.Load().tenant("one") != nil {
		t.Error("a registry tenant took a name within a file tenant's wildcard")
	}
}

// A client that resumes on another gateway at once, before the session it
// was issued has reached the store from the first gateway (whose guest
// burns CPU before it stores): the second gateway sees an authentic
// identifier issued a moment ago and asks again until the session lands,
// within the fetch deadline.
func TestResumeOnAnotherGatewayAtOnce(t *testing.T) {
	slowStore := cacheTenant("a", "a.test")
	slowStore.Guest = &config.Guest{Module: watGuest(t, "slow_store"),
		FetchDeadline: 10 * time.Second, StoreDeadline: 10 * time.Second, CPUBudget: 2 * time.Second} // generous: a busy machine
	cfgA := testConfig(t, slowStore)
	cfgA.NATS.Embedded.Listen = "127.0.0.1:0"
	gA := startGateway(t, cfgA)
	cfgB := testConfig(t, slowStore)
	cfgB.NATS = config.NATS{URL: gA.NATSURL(), NkeyFile: cfgA.NATS.Embedded.GatewayNkeyFile, Storage: "memory", Replicas: 1}
	cfgB.FillDefaults()
	gB := startGateway(t, cfgB)
	eventuallyResumes(t, gB, "a.test") // B's bucket is bound
	for _, v := range []uint16{tls.VersionTLS13, tls.VersionTLS12} {
		for i := range 3 {
			o := clientOpts{sni: "a.test", version: v, cache: tls.NewLRUClientSessionCache(1)}
			dial(t, gA.addr(), o)
			if !dial(t, gB.addr(), o).state.DidResume { // no wait for A's store
				t.Fatalf("%s, round %d: a session made on A did not resume on B at once", tls.VersionName(v), i)
			}
		}
	}
}
