package gateway

import (
	"crypto/tls"
	"errors"
	"fmt"
	"io/fs"

	"github.com/tlsgate/tlsgate/gateway/config"
	"github.com/tlsgate/tlsgate/gateway/natskv"
)

// embeddedSecurity returns the server options that authenticate the
// embedded server's client port (and serve it with TLS when configured):
// the gateway and deployer seeds, generated into the data dir on first
// start, and the configured further users. Without a client port there is
// nothing to authenticate: only this process's own clients connect.
func embeddedSecurity(e config.Embedded) ([]natskv.ServerOption, error) {
	if e.Listen == "" {
		return nil, nil
	}
	gw, err := natskv.LoadOrCreateNkey(e.GatewayNkeyFile)
	if err != nil {
		return nil, fmt.Errorf("gateway: nats.embedded.gateway_nkey_file: %w", err)
	}
	dep, err := natskv.LoadOrCreateNkey(e.DeployerNkeyFile)
	if err != nil {
		return nil, fmt.Errorf("gateway: nats.embedded.deployer_nkey_file: %w", err)
	}
	opts := []natskv.ServerOption{
		natskv.WithNkeyUser(gw, natskv.RoleGateway),
		natskv.WithNkeyUser(dep, natskv.RoleDeployer),
	}
	for _, u := range e.Users {
		opts = append(opts, natskv.WithNkeyUser(u.Nkey, natskv.Role(u.Role)))
	}
	if e.TLS.CertFile != "" {
		tc, err := embeddedTLS(e.TLS)
		if err != nil {
			return nil, err
		}
		opts = append(opts, natskv.WithServerTLS(tc))
	}
	return opts, nil
}

func embeddedTLS(c config.ServerTLS) (*tls.Config, error) {
	cert, err := tls.LoadX509KeyPair(c.CertFile, c.KeyFile)
	if err != nil {
		return nil, fmt.Errorf("gateway: nats.embedded.tls: %w", err)
	}
	tc := &tls.Config{MinVersion: tls.VersionTLS12, Certificates: []tls.Certificate{cert}}
	if c.ClientCAFile != "" {
		pool, err := loadCertPool(c.ClientCAFile)
		if err != nil {
			return nil, fmt.Errorf("gateway: nats.embedded.tls.client_ca_file: %w", err)
		}
		tc.ClientCAs, tc.ClientAuth = pool, tls.RequireAndVerifyClientCert
	}
	return tc, nil
}

// checkNATS is Check's part for NATS: it reads what startNATS would read,
// and writes nothing (seeds that do not exist yet are reported, not made).
func checkNATS(cfg *config.Config) ([]string, []error) {
	n := cfg.NATS
	var report []string
	var errs []error
	if n.URL != "" {
		line := "nats: " + n.URL
		switch {
		case n.NkeyFile != "":
			if _, err := natskv.NkeyPublic(n.NkeyFile); err != nil {
				errs = append(errs, fmt.Errorf("gateway: nats.nkey_file: %w", err))
			}
			line += ", nkey " + n.NkeyFile
		case n.CredsFile != "":
			line += ", credentials " + n.CredsFile
		default:
			line += ", no credentials"
		}
		return append(report, line), errs
	}
	e := n.Embedded
	if e.Listen == "" {
		return append(report, "nats: embedded, in-process only (no client port)"), nil
	}
	line := fmt.Sprintf("nats: embedded, client port %s, NKey authentication", e.Listen)
	if e.TLS.CertFile != "" {
		if _, err := embeddedTLS(e.TLS); err != nil {
			errs = append(errs, err)
		}
		line += ", TLS"
	}
	report = append(report, line)
	for _, f := range []struct{ field, path, role string }{
		{"nats.embedded.gateway_nkey_file", e.GatewayNkeyFile, "gateways join with nats.nkey_file"},
		{"nats.embedded.deployer_nkey_file", e.DeployerNkeyFile, "tlsgate guest push --nkey"},
	} {
		_, err := natskv.NkeyPublic(f.path)
		switch {
		case errors.Is(err, fs.ErrNotExist):
			report = append(report, fmt.Sprintf("nats: %s will be generated into %s (%s)", f.field, f.path, f.role))
		case err != nil:
			errs = append(errs, fmt.Errorf("gateway: %s: %w", f.field, err))
		default:
			report = append(report, fmt.Sprintf("nats: %s %s (%s)", f.field, f.path, f.role))
		}
	}
	return report, errs
}
