package gateway

import (
	"context"
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
	} else if keys, err := sealingKeys(cfg); err != nil {
		errs = append(errs, err)
	} else {
		report = append(report, fmt.Sprintf("sealing: %d key(s) from %s", len(keys), cfg.Sealing.KeysFile))
	}
	natsReport, natsErrs := checkNATS(cfg)
	report, errs = append(report, natsReport...), append(errs, natsErrs...)
	rt, err := wasmhost.NewRuntime(ctx,
		wasmhost.WithMemoryLimitPages(uint32(cfg.Wasm.MemoryLimitMB)*16),
		wasmhost.WithLogger(slog.New(slog.DiscardHandler)))
	if err != nil {
		return nil, err
	}
	defer rt.Close(context.WithoutCancel(ctx))
	for i, t := range cfg.Tenants {
		path := fmt.Sprintf("tenants[%d]", i)
		if t.Certificate.SelfSigned {
			report = append(report, fmt.Sprintf("%s (%s): self-signed certificate (generated at start)", path, t.Name))
		} else if _, err := loadCertificate(cfg.DataDir, t, path); err != nil {
			errs = append(errs, err)
		} else {
			report = append(report, fmt.Sprintf("%s (%s): certificate %s", path, t.Name, t.Certificate.CertFile))
		}
		if t.Guest == nil {
			report = append(report, fmt.Sprintf("%s (%s): no guest: stateless tickets", path, t.Name))
			continue
		}
		if strings.HasPrefix(t.Guest.Module, config.NATSModulePrefix) {
			report = append(report, fmt.Sprintf("%s (%s): guest %s is read from the NATS object store at start (tlsgate guest push checks it when deployed)",
				path, t.Name, t.Guest.Module))
			continue
		}
		if line, err := checkGuest(ctx, rt, t, path+".guest"); err != nil {
			errs = append(errs, err)
		} else {
			report = append(report, line)
		}
	}
	if len(errs) > 0 {
		return report, errors.Join(errs...)
	}
	return report, nil
}

func checkGuest(ctx context.Context, rt *wasmhost.Runtime, t config.Tenant, path string) (string, error) {
	wasm, name, err := guestBytes(t.Guest.Module)
	if err != nil {
		return "", fmt.Errorf("gateway: %s.module: %w", path, err)
	}
	start := time.Now()
	info, err := loadGuest(ctx, rt, name, wasm, t.Name, []byte(t.Guest.Config))
	switch {
	case errors.Is(err, wasmhost.ErrInvalidModule):
		return "", fmt.Errorf("gateway: %s.module: %w", path, err)
	case err != nil:
		return "", fmt.Errorf("gateway: %s: %w", path, err)
	}
	return fmt.Sprintf("%s (%s): guest %s loaded (%s) in %v", path, t.Name, name, info, time.Since(start).Round(time.Millisecond)), nil
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
	p, err := wasmhost.NewPool(ctx, m, wasmhost.WithTenant(tenant), wasmhost.WithGuestConfig(guestConfig),
		wasmhost.WithPoolLogger(slog.New(slog.DiscardHandler)))
	if err != nil {
		return "", err
	}
	p.Close(context.WithoutCancel(ctx))
	hooks := ""
	if m.HasFetch() {
		hooks += " fetch"
	}
	if m.HasStore() {
		hooks += " store"
	}
	return fmt.Sprintf("%d bytes, sha256 %.12s, exports%s", len(wasm), m.Digest(), hooks), nil
}
