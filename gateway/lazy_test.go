package gateway

import (
	"crypto/tls"
	"fmt"
	"path/filepath"
	"testing"

	"github.com/tlsgate/tlsgate/gateway/config"
)

// Tenants hold no guest instance until their first handshake: a module and
// guest config are started once up front (by the first tenant that uses
// them), not once per tenant, and a tenant never contacted costs no
// instance. The reference guest declares shared instances, so the one
// instance started up front serves every tenant; policycache does not, so
// a contacted tenant gets an instance of its own.
func TestTenantsAreLazy(t *testing.T) {
	for _, tt := range []struct {
		module string
		shared bool
	}{
		{module: config.BuiltinSessionCache, shared: true},
		{module: filepath.Join("..", "guests", "prebuilt", "policycache.wasm")},
	} {
		t.Run(filepath.Base(tt.module), func(t *testing.T) {
			var tenants []config.Tenant
			for i := range 40 {
				tn := cacheTenant(fmt.Sprintf("t%d", i), fmt.Sprintf("t%d.test", i))
				tn.Guest.Module = tt.module
				tenants = append(tenants, tn)
			}
			g := startGateway(t, testConfig(t, tenants...))
			s := g.snap.Load()
			for _, tn := range s.list {
				st := tn.pool.Stats()
				if tn.name == "t0" && st.Created != 1 {
					t.Fatalf("the first tenant of the module started %d instances up front, want 1", st.Created)
				}
				if tn.name != "t0" && (st.Live != 0 || st.Created != 0) {
					t.Fatalf("tenant %s never contacted holds instances: %+v", tn.name, st)
				}
			}
			o := clientOpts{sni: "t7.test", version: tls.VersionTLS13, cache: tls.NewLRUClientSessionCache(1)}
			if _, second := resumeOnce(t, g, g.addr(), o); !second.state.DidResume {
				t.Fatal("a lazy tenant's session does not resume")
			}
			g.waitStores(t) // the first handshake's store (a resumption stores nothing)
			var created uint64
			for _, tn := range s.list {
				st := tn.pool.Stats()
				created += st.Created
				if tn.name != "t7" && tn.name != "t0" && st.Live != 0 {
					t.Errorf("tenant %s, never contacted, has %d instances", tn.name, st.Live)
				}
				if tn.name == "t7" && !tt.shared && st.Live == 0 {
					t.Errorf("the contacted tenant has no instance of its own")
				}
			}
			shared := g.modules.sharedIdle()[s.tenant("t0").module.mod.Name()]
			switch {
			case tt.shared && (created != 1 || shared != 1):
				t.Errorf("%d instances created, %d idle in the share: want the one started up front serving t7 too", created, shared)
			case !tt.shared && (created != 2 || shared != 0):
				t.Errorf("%d instances created, %d shared: want t0's and t7's own", created, shared)
			}
		})
	}
}
