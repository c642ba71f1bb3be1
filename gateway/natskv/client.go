package natskv

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// Client is a NATS connection with JetStream, shared by the buckets of every
// tenant. It is safe for concurrent use.
type Client struct {
	nc        *nats.Conn
	js        jetstream.JetStream
	log       *slog.Logger
	denied    chan error    // permission violations the server reported, newest kept
	closed    chan struct{} // closed by nats when the connection is closed
	brk       *breaker
	inProcess bool       // connected to an embedded server in this process (its owner)
	near      *nearCache // nil: no near cache (WithNearCache)
	nearMu    sync.Mutex // guards nearStop
	nearStop  func()     // stops the near cache's watch
	sessMu    sync.Mutex
	sess      *sessions // the shared sessions bucket, made by the first Bucket
	closeOnce sync.Once
	closeErr  error
}

// ClientOption configures Connect.
type ClientOption func(*clientOptions)

type clientOptions struct {
	inProcess *Server
	url       string
	creds     string
	nkeySeed  string
	tls       *tls.Config
	name      string
	logger    *slog.Logger
	nearBytes int64
}

// WithInProcess connects to the embedded server s without a socket. It
// takes precedence over WithURL. Default: none.
func WithInProcess(s *Server) ClientOption {
	return func(o *clientOptions) { o.inProcess = s }
}

// WithURL connects to an external NATS, e.g. "nats://nats-1:4222,nats://nats-2:4222".
// Default: none; one of WithInProcess and WithURL is required.
func WithURL(url string) ClientOption {
	return func(o *clientOptions) { o.url = url }
}

// WithCredsFile authenticates with a NATS credentials file (JWT and NKey
// seed). Default: no credentials.
func WithCredsFile(path string) ClientOption {
	return func(o *clientOptions) { o.creds = path }
}

// WithNkeySeedFile authenticates as the NKey user whose seed is in path
// (see LoadOrCreateNkey), to an external NATS or the embedded server
// alike. Default: none.
func WithNkeySeedFile(path string) ClientOption {
	return func(o *clientOptions) { o.nkeySeed = path }
}

// WithTLSConfig uses c for TLS to the NATS servers (client certificates,
// roots). Default: TLS only when the URL says tls://, with system roots.
func WithTLSConfig(c *tls.Config) ClientOption {
	return func(o *clientOptions) { o.tls = c }
}

// WithName sets the connection name shown by NATS monitoring. Default: "tlsgate".
func WithName(name string) ClientOption {
	return func(o *clientOptions) { o.name = name }
}

// WithLogger receives connection events (disconnected, reconnected, errors)
// and bucket binding failures. Default: slog.Default().
func WithLogger(l *slog.Logger) ClientOption {
	return func(o *clientOptions) { o.logger = l }
}

// Connection tuning. A gateway must come up with NATS down and catch up when
// it returns: retry the first connect, never give up reconnecting.
const (
	connectTimeout = 2 * time.Second
	reconnectWait  = time.Second
	// pingInterval and maxPingsOut detect a server that stopped answering
	// with the TCP connection still open: after about 2 unanswered pings
	// (4-6 s) the connection is dropped and reconnecting starts.
	pingInterval = 2 * time.Second
	maxPingsOut  = 2
	maxCloseWait = 30 * time.Second // bounds Close when ctx has no deadline
)

// Connect connects to NATS. With WithURL it returns a Client even when no
// server can be reached: the client keeps reconnecting in the background and
// bucket operations fail with wasmhost.ErrUnavailable until it succeeds.
// Errors: no server given, an unreadable credentials or seed file, a bad
// URL, credentials the embedded server refuses, ctx already done.
func Connect(ctx context.Context, opts ...ClientOption) (*Client, error) {
	o := clientOptions{name: "tlsgate", logger: slog.Default()}
	for _, opt := range opts {
		opt(&o)
	}
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("natskv: connect: %w", err)
	}
	c := &Client{log: o.logger, closed: make(chan struct{}), denied: make(chan error, 1)}
	nopts := []nats.Option{
		nats.Name(o.name),
		nats.Timeout(timeoutFor(ctx, connectTimeout)),
		nats.MaxReconnects(-1),
		nats.ReconnectWait(reconnectWait),
		nats.PingInterval(pingInterval),
		nats.MaxPingsOutstanding(maxPingsOut),
		nats.DisconnectErrHandler(func(_ *nats.Conn, err error) {
			if c.near != nil {
				c.near.watching.Store(false) // until the watch has caught up again
				c.forgetNear()
			}
			if err != nil {
				c.log.Warn("natskv: disconnected from NATS", "err", err)
			}
		}),
		nats.ReconnectHandler(func(nc *nats.Conn) {
			if c.near != nil {
				go c.rewatchNear()
			}
			c.log.Info("natskv: connected to NATS", "url", nc.ConnectedUrlRedacted())
		}),
		nats.ErrorHandler(func(_ *nats.Conn, _ *nats.Subscription, err error) {
			if errors.Is(err, nats.ErrPermissionViolation) {
				select {
				case c.denied <- err:
				default:
				}
			}
			c.log.Warn("natskv: NATS error", "err", err)
		}),
		nats.ClosedHandler(func(*nats.Conn) { close(c.closed) }),
	}
	url := o.url
	switch {
	case o.inProcess != nil:
		nopts = append(nopts, nats.InProcessServer(o.inProcess.ns))
		url = ""
		c.inProcess = true
	case o.url != "":
		nopts = append(nopts, nats.RetryOnFailedConnect(true))
	default:
		return nil, errors.New("natskv: connect: no server: use WithInProcess or WithURL")
	}
	if o.creds != "" {
		nopts = append(nopts, nats.UserCredentials(o.creds))
	}
	if o.nkeySeed != "" {
		nk, err := nats.NkeyOptionFromSeed(o.nkeySeed)
		if err != nil {
			return nil, fmt.Errorf("natskv: nkey seed file %s: %w", o.nkeySeed, err)
		}
		nopts = append(nopts, nk)
	}
	if o.tls != nil {
		nopts = append(nopts, nats.Secure(o.tls))
	}
	nc, err := nats.Connect(url, nopts...)
	if err != nil {
		return nil, fmt.Errorf("natskv: connect: %w", err)
	}
	js, err := jetstream.New(nc)
	if err != nil {
		nc.Close()
		return nil, fmt.Errorf("natskv: jetstream: %w", err)
	}
	c.nc, c.js = nc, js
	if o.nearBytes > 0 {
		c.near = newNearCache(o.nearBytes, MaxTTL)
	}
	c.brk = &breaker{log: c.log, done: c.closed, probe: func(ctx context.Context) error {
		_, err := js.AccountInfo(ctx)
		return err
	}}
	if !nc.IsConnected() {
		c.log.Warn("natskv: NATS not reachable yet, retrying in the background", "url", o.url)
	}
	return c, nil
}

// Connected reports whether the client is connected to a NATS server now.
func (c *Client) Connected() bool { return c.nc.IsConnected() }

// Available reports whether key-value operations can be expected to work
// now: connected, and the breaker closed (NATS answered the recent ones).
// While it is false, bucket operations fail at once with
// wasmhost.ErrUnavailable; a caller may skip them altogether.
func (c *Client) Available() bool { return c.nc.IsConnected() && c.brk.allow() }

// BreakerTrips returns how many times the breaker has opened: NATS stopped
// answering key-value operations while the connection stood.
func (c *Client) BreakerTrips() uint64 { return c.brk.trips.Load() }

// LastError returns the last error the connection saw (an authorization
// violation, a TLS failure), or nil: why Connected is false.
func (c *Client) LastError() error { return c.nc.LastError() }

// Close drains the connection (pending operations finish, then it closes)
// and waits until it is closed, ctx ends or 30 seconds pass, then closes it
// outright. It is
// safe to call Close more than once.
func (c *Client) Close(ctx context.Context) error {
	c.closeOnce.Do(func() {
		c.nearMu.Lock()
		if c.nearStop != nil {
			c.nearStop()
			c.nearStop = nil
		}
		c.nearMu.Unlock()
		if !c.nc.IsConnected() {
			c.nc.Close()
		} else if err := c.nc.Drain(); err != nil {
			c.nc.Close()
		}
		limit := time.NewTimer(maxCloseWait)
		defer limit.Stop()
		select {
		case <-c.closed:
		case <-limit.C:
			c.nc.Close()
		case <-ctx.Done():
			c.nc.Close()
			c.closeErr = fmt.Errorf("natskv: close: drain cut short: %w", ctx.Err())
		}
	})
	return c.closeErr
}

// ErrPermissionDenied is wrapped by operations the server refused because
// this client's NATS user may not do them (a gateway's user deploying a
// guest module, for example).
var ErrPermissionDenied = errors.New("natskv: permission denied")

// untilDenied returns a context that ends when ctx does or when the server
// reports a permission violation on this connection, whichever is first:
// NATS reports those asynchronously, so a refused publish would otherwise
// wait out its whole deadline. The caller calls stop when done, and reads
// the cause with denial.
func (c *Client) untilDenied(ctx context.Context) (_ context.Context, stop func()) {
	select { // forget a violation left over from an earlier operation
	case <-c.denied:
	default:
	}
	dctx, cancel := context.WithCancelCause(ctx)
	go func() {
		select {
		case err := <-c.denied:
			cancel(fmt.Errorf("%w: %w", ErrPermissionDenied, err))
		case <-dctx.Done():
		}
	}()
	return dctx, func() { cancel(nil) }
}

// denial returns the permission error that ended ctx (from untilDenied),
// or nil.
func denial(ctx context.Context) error {
	if err := context.Cause(ctx); errors.Is(err, ErrPermissionDenied) {
		return err
	}
	return nil
}

// timeoutFor returns d, or less if ctx's deadline is nearer.
func timeoutFor(ctx context.Context, d time.Duration) time.Duration {
	if dl, ok := ctx.Deadline(); ok {
		if left := time.Until(dl); left < d {
			return max(left, time.Millisecond)
		}
	}
	return d
}
