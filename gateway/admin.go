package gateway

import (
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/pprof"
	"os"
	"time"

	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/tlsgate/tlsgate/gateway/config"
)

// adminServer answers /healthz, /readyz, /metrics and, when enabled,
// /debug/pprof/. It binds to loopback unless configured otherwise.
type adminServer struct {
	ln  net.Listener
	srv *http.Server
}

func (g *Gateway) startAdmin(c config.Admin, version string) (*adminServer, error) {
	ln, err := net.Listen("tcp", c.Address)
	if err != nil {
		return nil, fmt.Errorf("gateway: admin.address: %w", err)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "ok\n")
	})
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, r *http.Request) {
		nats := "connected"
		switch {
		case !g.kv.Connected():
			nats = "disconnected (serving full handshakes)"
		case !g.kv.Available():
			nats = "connected but not answering (key-value breaker open, probing; serving full handshakes)"
		}
		if g.registry != nil && !g.registry.isSynced() {
			w.WriteHeader(http.StatusServiceUnavailable)
			fmt.Fprintf(w, "not ready: the tenant registry has not been read yet\nversion: %s\ntenants: %d\nnats: %s\n", version, len(g.snap.Load().list), nats)
			return
		}
		fmt.Fprintf(w, "ready\nversion: %s\ntenants: %d\nnats: %s\n", version, len(g.snap.Load().list), nats)
	})
	mux.Handle("GET /metrics", promhttp.HandlerFor(g.metrics.reg, promhttp.HandlerOpts{Registry: g.metrics.reg}))
	if c.Pprof {
		mux.HandleFunc("/debug/pprof/", pprof.Index)
		mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
		mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
		mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
		mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	}
	a := &adminServer{ln: ln, srv: &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}}
	go a.srv.Serve(ln)
	g.log.Info("admin listening", "address", ln.Addr().String())
	return a, nil
}

func (a *adminServer) close(ctx context.Context) {
	if err := a.srv.Shutdown(ctx); err != nil {
		a.srv.Close()
	}
}

func loadCertPool(file string) (*x509.CertPool, error) {
	pem, err := os.ReadFile(file)
	if err != nil {
		return nil, err
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		return nil, errors.New(file + ": no PEM certificates")
	}
	return pool, nil
}
