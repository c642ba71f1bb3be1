package bench

import (
	"bufio"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"time"
)

// ticketWait bounds how long a resume-mode worker reads after a TLS 1.3
// handshake for the server's NewSessionTicket. Go's server sends tickets with
// its first flight; OpenSSL sends them after the client's Finished, one round
// trip later. A worker that once waits in vain stops waiting: that server
// issues no tickets.
const ticketWait = time.Second

// maxResponseBody bounds how much of a --send-request response is read.
const maxResponseBody = 1 << 20

// worker makes one connection at a time. Its fields are used by its own
// goroutine only.
type worker struct {
	addrs       []string // connections go to each in turn
	next        int
	tls         *tls.Config  // the worker's own copy
	cache       *ticketCache // nil in full mode: no session is ever offered, or asked for
	timeout     time.Duration
	sendRequest bool
	// awaitTickets is true while a TLS 1.3 connection in resume or first mode should
	// read for the server's ticket after the handshake.
	awaitTickets bool
}

// newWorker returns a worker for c; base is cloned, not modified.
// Worker i starts at address i, so with several addresses a session primed on
// one is resumed on the others.
func newWorker(c config, i int, base *tls.Config) *worker {
	w := &worker{
		addrs:        c.addrs,
		next:         i % len(c.addrs),
		tls:          base.Clone(),
		timeout:      c.timeout,
		sendRequest:  c.sendRequest,
		awaitTickets: true,
	}
	switch c.mode {
	case modeResume:
		w.cache = &ticketCache{}
		w.tls.ClientSessionCache = w.cache
	case modeFirst:
		w.cache = &ticketCache{forget: true}
		w.tls.ClientSessionCache = w.cache
	}
	return w
}

// connect dials, handshakes and closes one connection. Latency covers dial
// and handshake only; the ticket wait and the request are not timed.
func (w *worker) connect(ctx context.Context) outcome {
	ctx, cancel := context.WithTimeout(ctx, w.timeout)
	defer cancel()
	start := time.Now()
	addr := w.addrs[w.next]
	w.next = (w.next + 1) % len(w.addrs)
	var d net.Dialer
	raw, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return outcome{errKind: classify(err, errDial), err: err}
	}
	conn := tls.Client(raw, w.tls)
	defer conn.Close()
	if err := conn.HandshakeContext(ctx); err != nil {
		return outcome{errKind: classify(err, errHandshake), err: err}
	}
	o := outcome{latency: time.Since(start)}
	state := conn.ConnectionState()
	o.resumed = state.DidResume
	switch {
	case w.sendRequest:
		if err := w.request(ctx, conn, addr); err != nil {
			return outcome{errKind: classify(err, errRequest), err: err}
		}
	case w.cache != nil && w.awaitTickets && state.Version == tls.VersionTLS13:
		w.awaitTickets = w.awaitTicket(conn)
	}
	return o
}

// awaitTicket reads from conn until crypto/tls stores a session ticket in the
// worker's cache or ticketWait elapses, and reports whether a ticket came.
// crypto/tls handles the ticket inside Read, which would go on waiting for
// application data; the cache hook cuts the read short by moving the
// deadline to now.
func (w *worker) awaitTicket(conn *tls.Conn) bool {
	stored := false
	w.cache.onStore = func() {
		stored = true
		_ = conn.SetReadDeadline(time.Now())
	}
	defer func() { w.cache.onStore = nil }()
	if err := conn.SetReadDeadline(time.Now().Add(ticketWait)); err != nil {
		return false
	}
	var b [1]byte
	_, _ = conn.Read(b[:]) // ends by the deadline, data, or the server closing
	return stored
}

// request sends "GET / HTTP/1.1" and reads the response, discarding its body.
// Reading the response also receives TLS 1.3 tickets.
func (w *worker) request(ctx context.Context, conn *tls.Conn, addr string) error {
	if deadline, ok := ctx.Deadline(); ok {
		if err := conn.SetDeadline(deadline); err != nil {
			return err
		}
	}
	host := w.tls.ServerName
	if host == "" {
		host = addr
	}
	if _, err := fmt.Fprintf(conn, "GET / HTTP/1.1\r\nHost: %s\r\nUser-Agent: tlsgate-bench\r\nConnection: close\r\n\r\n", host); err != nil {
		return err
	}
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	_, err = io.Copy(io.Discard, io.LimitReader(resp.Body, maxResponseBody))
	return err
}

// classify maps err to an error kind: timeouts are errTimeout, anything else
// is the kind of the step that failed.
func classify(err error, step string) string {
	var ne net.Error
	if errors.Is(err, context.DeadlineExceeded) || errors.Is(err, os.ErrDeadlineExceeded) ||
		(errors.As(err, &ne) && ne.Timeout()) {
		return errTimeout
	}
	return step
}
