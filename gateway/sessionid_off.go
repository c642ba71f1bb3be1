//go:build !tlsgate_sessionid

package gateway

import "crypto/tls"

// SessionIDResumption reports whether this build resumes TLS 1.2 clients by
// Session ID (built with the patched crypto/tls and -tags tlsgate_sessionid).
const SessionIDResumption = false

func setSessionIDHooks(*tls.Config, *connSessions) {}
