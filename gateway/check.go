package gateway

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"strings"
	"time"

	"github.com/tlsgate/tlsgate/gateway/config"
	"github.com/tlsgate/tlsgate/wasmhost"
)

// Check loads what cfg names without serving or writing anything: sealing
// keys (when configured or already generated), certificate files, and every
// guest, which is compiled, validated against the ABI and instantiated once
// (its tlsgate_on_init runs with the tenant's guest config; KV operations
// complete with UNAVAILABLE). It returns one line per item checked, or all
// the problems found, each naming its field path.
func Check(ctx context.Context, cfg *config.Config) ([]string, error) {
	var report []string
	var errs []error
	if err := checkDataDir(cfg.DataDir); err != nil {
		errs = append(errs, err)
	}
	if len(cfg.Sealing.Keys) > 0 {
		report = append(report, fmt.Sprintf("sealing: %d key(s), sealing with %q", len(cfg.Sealing.Keys), cfg.Sealing.Keys[0].ID))
	} else if _, err := os.Stat(cfg.Sealing.KeysFile); errors.Is(err, fs.ErrNotExist) {
		report = append(report, "sealing: no keys yet; one will be generated into "+cfg.Sealing.KeysFile)
	} else if keys, _, err := sealingKeys(cfg); err != nil {
		errs = append(errs, err)
	} else {
		report = append(report, fmt.Sprintf("sealing: %d key(s) from %s", len(keys), cfg.Sealing.KeysFile))
	}
	natsReport, natsErrs := checkNATS(cfg)
	report, errs = append(report, natsReport...), append(errs, natsErrs...)
	rt, err := wasmhost.NewRuntime(ctx,
		wasmhost.WithMemoryLimitPages(uint32(cfg.Wasm.MemoryLimitMB)*16),
		wasmhost.WithMemoryBudget(uint64(cfg.Wasm.MemoryBudgetMB)<<20),
		wasmhost.WithInstanceBudget(cfg.Wasm.MaxInstances),
		wasmhost.WithLogger(slog.New(slog.DiscardHandler)))
	if err != nil {
		return nil, err
	}
	defer rt.Close(context.WithoutCancel(ctx))
	// What serve builds, built the same way, short of NATS and writing.
	g := &Gateway{ctx: ctx, log: slog.New(slog.DiscardHandler), metrics: newMetrics(), rt: rt, dryRun: true}
	start := time.Now()
	s, err := g.buildSnapshot(ctx, cfg, nil)
	if err != nil {
		return report, errors.Join(append(errs, err)...)
	}
	defer s.close(context.WithoutCancel(ctx))
	for i, t := range s.list {
		report = append(report, describeTenant(fmt.Sprintf("tenants[%d]", i), t, cfg.HTTP.Address != "")...)
	}
	if cfg.HTTP.Address != "" {
		report = append(report, fmt.Sprintf("http: %s answers ACME HTTP-01 challenges and redirects the rest to https://", cfg.HTTP.Address))
	}
	for i, h := range s.hellos {
		if h != nil {
			report = append(report, fmt.Sprintf("listeners[%d]: client-hello guest %s (%s), deadline %v",
				i, h.mod.Name(), h.mod.Digest()[:12], h.deadline))
		}
	}
	report = append(report, fmt.Sprintf("%d tenant(s) built in %v", len(s.list), time.Since(start).Round(time.Millisecond)))
	if len(errs) > 0 {
		return report, errors.Join(errs...)
	}
	return report, nil
}

// describeTenant says what check built for a tenant.
func describeTenant(path string, t *tenant, httpOn bool) []string {
	var out []string
	switch c := t.cfg.Certificate; {
	case c.ACME != nil:
		how := ""
		if o := c.ACME.OnDemand; o != nil {
			how = fmt.Sprintf(", on demand for %v (at most %d a minute)", o.Allow, o.PerMinute)
		}
		out = append(out, fmt.Sprintf("%s (%s): certificate for %v obtained and renewed by ACME from %s (%s%s), kept in NATS (not contacted by check)",
			path, t.name, t.cfg.ServerNames, c.ACME.CA, strings.Join(challengesFor(*c.ACME, httpOn), ", "), how))
	case c.SelfSigned:
		out = append(out, fmt.Sprintf("%s (%s): self-signed certificate (generated at start if missing)", path, t.name))
	default:
		out = append(out, fmt.Sprintf("%s (%s): certificate %s, valid until %s", path, t.name, c.CertFile,
			t.cert.Leaf.NotAfter.UTC().Format(time.DateOnly)))
	}
	for _, w := range t.warnings {
		out = append(out, "warning: "+w)
	}
	switch {
	case t.cfg.Guest == nil:
		out = append(out, fmt.Sprintf("%s (%s): no guest: stateless tickets", path, t.name))
	case t.pool == nil:
		out = append(out, fmt.Sprintf("%s (%s): guest %s is read from the NATS object store at start (tlsgate guest push checks it when deployed)",
			path, t.name, t.cfg.Guest.Module))
	default:
		out = append(out, fmt.Sprintf("%s (%s): guest %s loaded (%s)", path, t.name, t.module.mod.Name(), moduleInfo(t.module.mod)))
	}
	return out
}

// CheckGuestModule refuses what a gateway would refuse: a module that does
// not compile, breaks ABI v1, or whose first instance fails to start
// (_initialize, tlsgate_on_init with guestConfig). On success it describes
// the module: size, digest and hooks.
func CheckGuestModule(ctx context.Context, name string, wasm, guestConfig []byte) (string, error) {
	rt, err := wasmhost.NewRuntime(ctx, wasmhost.WithLogger(slog.New(slog.DiscardHandler)))
	if err != nil {
		return "", err
	}
	defer rt.Close(context.WithoutCancel(ctx))
	return loadGuest(ctx, rt, name, wasm, "check", guestConfig)
}

// loadGuest compiles wasm and starts one instance of it, then closes both.
func loadGuest(ctx context.Context, rt *wasmhost.Runtime, name string, wasm []byte, tenant string, guestConfig []byte) (string, error) {
	m, err := rt.Compile(ctx, name, wasm)
	if err != nil {
		return "", err
	}
	defer m.Close(context.WithoutCancel(ctx))
	if err := hasTenantHook(m); err != nil {
		return "", err
	}
	p, err := wasmhost.NewPool(ctx, m, wasmhost.WithTenant(tenant), wasmhost.WithGuestConfig(guestConfig),
		wasmhost.WithPoolLogger(slog.New(slog.DiscardHandler)))
	if err != nil {
		return "", err
	}
	p.Close(context.WithoutCancel(ctx))
	return moduleInfo(m), nil
}

// moduleInfo describes a compiled module: size, digest and hooks.
func moduleInfo(m *wasmhost.Module) string {
	hooks := ""
	if m.HasFetch() {
		hooks += " fetch"
	}
	if m.HasStore() {
		hooks += " store"
	}
	return fmt.Sprintf("%d bytes, sha256 %.12s, exports%s", m.Size(), m.Digest(), hooks)
}

// CheckFiles loads the certificate files of cfg's tenants, which need not
// validate, and returns a *config.FieldError for each that does not load or
// does not cover its tenant's names: check reports them beside the
// configuration's other problems, so that one run names every problem.
// It writes nothing and reads no guest (a configuration that does not
// validate is not built).
func CheckFiles(cfg *config.Config) []error {
	var errs []error
	for i, tc := range cfg.Tenants {
		specs := append([]config.NamedCertificate{{Name: config.DefaultCertificateName, Certificate: tc.Certificate}}, tc.Certificates...)
		for j, s := range specs {
			at := fmt.Sprintf("tenants[%d].certificate", i)
			if j > 0 {
				at = fmt.Sprintf("tenants[%d].certificates[%d]", i, j-1)
			}
			c := s.Certificate
			if c.CertFile == "" || c.KeyFile == "" || c.SelfSigned || c.ACME != nil {
				continue
			}
			cert, err := tls.LoadX509KeyPair(c.CertFile, c.KeyFile)
			if err == nil && !c.SkipNameCheck && cert.Leaf != nil {
				err = certNamesCover(cert.Leaf, tc.ServerNames, j == 0)
			}
			if err != nil {
				errs = append(errs, &config.FieldError{Path: at, Msg: err.Error()})
			}
		}
	}
	return errs
}
