package natskv

import "github.com/nats-io/nats.go"

// InProcessConn opens a plain NATS connection to s for tests that act as an
// operator behind the gateway's back.
func InProcessConn(s *Server, opts ...nats.Option) (*nats.Conn, error) {
	return nats.Connect("", append([]nats.Option{nats.InProcessServer(s.ns)}, opts...)...)
}
