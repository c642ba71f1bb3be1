package gateway

import (
	"crypto/tls"
	"fmt"
	"testing"

	"github.com/tlsgate/tlsgate/gateway/config"
)

// Tenants hold no guest instance until their first handshake: a module and
// guest config are started once up front (by the first tenant that uses
// them, which is then warm), not once per tenant, and a tenant never
// contacted costs no instance.
func TestTenantsAreLazy(t *testing.T) {
	var tenants []config.Tenant
	for i := range 40 {
		tenants = append(tenants, cacheTenant(fmt.Sprintf("t%d", i), fmt.Sprintf("t%d.test", i)))
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
	for _, tn := range s.list {
		st := tn.pool.Stats()
		switch {
		case tn.name == "t7" && st.Live == 0:
			t.Errorf("the contacted tenant has no instance")
		case tn.name != "t7" && tn.name != "t0" && st.Live != 0:
			t.Errorf("tenant %s, never contacted, has %d instances", tn.name, st.Live)
		}
	}
}
