// Package bench implements "tlsgate bench", a TLS handshake load generator
// that works against tlsgate, nginx or any other TLS server.
//
// Workers open connections in a loop and time dial plus handshake on the
// client. In full mode every connection starts without a session, so every
// handshake is a full one. First mode makes full handshakes too, with a
// client session cache that offers nothing, so the server issues a session
// each time (what a resumption replaces). In resume mode each worker first makes one
// priming handshake to obtain a session, then resumes with it on every
// further connection; a connection counts as resumed only when
// [tls.ConnectionState.DidResume] is true, so a server that does not resume
// shows 0% resumed.
//
// Two properties of Go's crypto/tls client shape what resume mode measures:
//
//   - Go's client resumes only with session tickets (TLS 1.2 RFC 5077 tickets,
//     TLS 1.3 PSK identities). It never resumes by TLS 1.2 Session ID, so
//     against a TLS 1.2 server that resumes only by Session ID (for example
//     nginx with "ssl_session_tickets off") resume mode reports 0% resumed.
//     That is a limit of the client, not of the server.
//   - In TLS 1.3 the server sends NewSessionTicket after the handshake, and
//     Go's client processes it only while reading from the connection. In
//     resume and first mode without --send-request, a worker therefore reads after each
//     TLS 1.3 handshake until a ticket is stored (or a short wait runs out,
//     see ticketWait); the read is not part of the measured latency. With
//     --send-request the response read receives the ticket.
//
// The public surface is [NewCommand]; everything else is unexported.
package bench
