package bench

import "crypto/tls"

// ticketCache is a worker's one-slot tls.ClientSessionCache: a worker talks to
// one server, so it needs one session, the latest it was given. onStore, when
// set, runs after a session is stored; the worker uses it to stop waiting for
// a TLS 1.3 ticket as soon as one arrives.
//
// A ticketCache belongs to one worker, whose connections are sequential and
// call it from the worker's goroutine only, so it needs no lock.
//
// With forget (first mode) it offers nothing: every connection asks for a
// session, as a client's first does, and none is resumed.
type ticketCache struct {
	session *tls.ClientSessionState
	onStore func()
	forget  bool
}

var _ tls.ClientSessionCache = (*ticketCache)(nil)

// Get returns the stored session, if any.
func (c *ticketCache) Get(string) (*tls.ClientSessionState, bool) {
	if c.forget {
		return nil, false
	}
	return c.session, c.session != nil
}

// Put stores cs, or forgets the session when cs is nil (crypto/tls does so
// when a resumption attempt fails).
func (c *ticketCache) Put(_ string, cs *tls.ClientSessionState) {
	c.session = cs
	if cs != nil && c.onStore != nil {
		c.onStore()
	}
}
