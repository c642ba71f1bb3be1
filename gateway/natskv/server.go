package natskv

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nkeys"

	"github.com/tlsgate/tlsgate/internal/netaddr"
)

// Server is an embedded, in-process nats-server with JetStream enabled. It
// is what a single gateway uses when no NATS URL is configured.
type Server struct {
	ns        *server.Server
	listening bool
	tmpDir    string // removed on Close; "" when the caller gave the data dir
	closeOnce sync.Once
	closeErr  error
}

// ServerOption configures StartEmbedded.
type ServerOption func(*serverOptions)

type serverOptions struct {
	dataDir string
	listen  string
	logger  *slog.Logger
	users   []nkeyUser
	tls     *tls.Config
}

type nkeyUser struct {
	pub  string
	role Role
}

// WithDataDir sets the directory where JetStream keeps its file storage, so
// that sessions survive a restart. Default: a temporary directory removed on
// Close (sessions then live as long as the process).
func WithDataDir(dir string) ServerOption {
	return func(o *serverOptions) { o.dataDir = dir }
}

// WithClientListen opens a TCP client port at hostport (for example
// "127.0.0.1:4222"; port 0 picks a free port, see ClientURL) so that other
// processes can connect. The port is always authenticated: it needs at
// least one WithNkeyUser, and an address that is not loopback also needs
// WithServerTLS. Default: "", no port at all; only in-process clients
// (WithInProcess) can connect.
func WithClientListen(hostport string) ServerOption {
	return func(o *serverOptions) { o.listen = hostport }
}

// WithNkeyUser admits the NKey user whose public key is pub (a "U..." key,
// see LoadOrCreateNkey) in role. Once a server has users, every client
// must authenticate as one of them, in-process clients included. Default:
// no users, which is only allowed without a client port.
func WithNkeyUser(pub string, role Role) ServerOption {
	return func(o *serverOptions) { o.users = append(o.users, nkeyUser{pub: pub, role: role}) }
}

// WithServerTLS serves the client port with TLS using c (which holds the
// server's certificate, and ClientCAs with ClientAuth to require client
// certificates). Default: plain TCP, allowed only on loopback addresses.
func WithServerTLS(c *tls.Config) ServerOption {
	return func(o *serverOptions) { o.tls = c }
}

// WithServerLogger sends the server's warnings and errors to l, and its
// notices at debug level (server debug and trace output stay off). Default:
// the server logs nothing.
func WithServerLogger(l *slog.Logger) ServerOption {
	return func(o *serverOptions) { o.logger = l }
}

// startPoll is how often StartEmbedded checks that the server is ready, and
// maxStartWait bounds the wait when ctx has no deadline.
const (
	startPoll    = 50 * time.Millisecond
	maxStartWait = 30 * time.Second
)

// StartEmbedded starts an in-process nats-server with JetStream and waits
// until it accepts connections, ctx ends or 30 seconds pass. Close it when
// done. A client port that cannot be opened (already in use) is an error.
func StartEmbedded(ctx context.Context, opts ...ServerOption) (*Server, error) {
	var o serverOptions
	for _, opt := range opts {
		opt(&o)
	}
	sopts := &server.Options{
		ServerName: "tlsgate",
		JetStream:  true,
		DontListen: o.listen == "",
		NoSigs:     true,
	}
	if err := o.secure(sopts); err != nil {
		return nil, err
	}
	if o.listen != "" {
		host, portStr, err := net.SplitHostPort(o.listen)
		if err != nil {
			return nil, fmt.Errorf("natskv: client listen address %q: %w", o.listen, err)
		}
		if o.tls == nil && !netaddr.IsLoopback(host) {
			return nil, fmt.Errorf("natskv: client listen address %q: %w", o.listen, ErrPlainRemotePort)
		}
		port, err := strconv.Atoi(portStr)
		if err != nil || port < 0 || port > 65535 {
			return nil, fmt.Errorf("natskv: client listen address %q: bad port", o.listen)
		}
		if port == 0 {
			// nats-server reads 0 as "the default port, 4222"; the
			// usual meaning, any free port, is its RANDOM_PORT.
			port = server.RANDOM_PORT
		}
		sopts.Host, sopts.Port = host, port
	}
	s := &Server{listening: o.listen != ""}
	sopts.StoreDir = o.dataDir
	if sopts.StoreDir == "" {
		dir, err := os.MkdirTemp("", "tlsgate-nats-")
		if err != nil {
			return nil, fmt.Errorf("natskv: %w", err)
		}
		s.tmpDir, sopts.StoreDir = dir, dir
	}
	ns, err := server.NewServer(sopts)
	if err != nil {
		s.removeTmp()
		return nil, fmt.Errorf("natskv: embedded server: %w", err)
	}
	if o.logger == nil {
		o.logger = slog.New(slog.DiscardHandler)
	}
	fatal := make(chan string, 1)
	ns.SetLogger(serverLogger{l: o.logger, fatal: fatal, started: new(atomic.Bool)}, false, false)
	s.ns = ns
	ctx, cancel := context.WithTimeout(ctx, maxStartWait)
	defer cancel()
	ns.Start()
	for !ns.ReadyForConnections(startPoll) {
		if err := ctx.Err(); err != nil {
			_ = s.Close(context.Background())
			return nil, fmt.Errorf("natskv: embedded server not ready: %w", err)
		}
		select {
		case msg := <-fatal:
			_ = s.Close(context.Background())
			return nil, fmt.Errorf("natskv: embedded server: %s", msg)
		default:
		}
		if !ns.Running() {
			_ = s.Close(context.Background())
			return nil, errors.New("natskv: embedded server stopped while starting")
		}
	}
	if !ns.JetStreamEnabled() {
		_ = s.Close(context.Background())
		return nil, errors.New("natskv: embedded server started without JetStream")
	}
	return s, nil
}

// ErrOpenPort is returned by StartEmbedded for a client port without users:
// anyone who reaches it could read every tenant's sessions and deploy guests.
var ErrOpenPort = errors.New("natskv: a client port needs at least one NKey user (WithNkeyUser)")

// ErrPlainRemotePort is returned by StartEmbedded for a client port on an
// address other than loopback without TLS: credentials and sealed sessions
// would cross the network in clear.
var ErrPlainRemotePort = errors.New("natskv: a client port beyond loopback needs TLS (WithServerTLS)")

// secure sets the users, their permissions and TLS.
func (o *serverOptions) secure(sopts *server.Options) error {
	if o.listen != "" && len(o.users) == 0 {
		return ErrOpenPort
	}
	for _, u := range o.users {
		if !nkeys.IsValidPublicUserKey(u.pub) {
			return fmt.Errorf("natskv: %q is not an NKey user public key (U...)", u.pub)
		}
		perms, err := u.role.permissions()
		if err != nil {
			return err
		}
		sopts.Nkeys = append(sopts.Nkeys, &server.NkeyUser{Nkey: u.pub, Permissions: perms})
	}
	if o.tls != nil {
		if len(o.tls.Certificates) == 0 && o.tls.GetCertificate == nil {
			return errors.New("natskv: server TLS config has no certificate")
		}
		sopts.TLS, sopts.TLSConfig, sopts.TLSTimeout = true, o.tls, 2
		sopts.TLSVerify = o.tls.ClientAuth == tls.RequireAndVerifyClientCert
	}
	return nil
}

// ClientURL returns the URL of the server's TCP client port, or "" when it
// does not listen (the default).
func (s *Server) ClientURL() string {
	if !s.listening {
		return ""
	}
	return s.ns.ClientURL()
}

// Close shuts the server down and waits until it has stopped or ctx ends.
// Clients should be closed first. It is safe to call Close more than once.
func (s *Server) Close(ctx context.Context) error {
	s.closeOnce.Do(func() {
		done := make(chan struct{})
		go func() {
			s.ns.Shutdown()
			s.ns.WaitForShutdown()
			close(done)
		}()
		select {
		case <-done:
			s.removeTmp()
		case <-ctx.Done():
			s.closeErr = fmt.Errorf("natskv: embedded server shutdown: %w", ctx.Err())
		}
	})
	return s.closeErr
}

func (s *Server) removeTmp() {
	if s.tmpDir != "" {
		_ = os.RemoveAll(s.tmpDir)
	}
}

// InProcessConn connects a plain nats.go client to the server in-process,
// for tools and tests that need the raw NATS or JetStream API (the gateway
// itself uses Connect). The caller closes the connection.
func (s *Server) InProcessConn(opts ...nats.Option) (*nats.Conn, error) {
	nc, err := nats.Connect("", append([]nats.Option{nats.InProcessServer(s.ns)}, opts...)...)
	if err != nil {
		return nil, fmt.Errorf("natskv: in-process connection: %w", err)
	}
	return nc, nil
}
