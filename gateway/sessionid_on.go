//go:build tlsgate_sessionid

package gateway

import "crypto/tls"

// SessionIDResumption reports whether this build resumes TLS 1.2 clients by
// Session ID (built with the patched crypto/tls and -tags tlsgate_sessionid).
const SessionIDResumption = true

// setSessionIDHooks wires the patched crypto/tls's Session ID hooks to the
// tenant's guest. Tenants without a guest keep no server-side state, so
// they assign no Session IDs.
func setSessionIDHooks(cfg *tls.Config, cs *connSessions) {
	if !cs.t.policy.sessionIDs() {
		return
	}
	cfg.GetSessionByID = cs.lookupByID
	cfg.StoreSessionByID = cs.storeByID
	cfg.NewSessionID = cs.newSessionID
}
