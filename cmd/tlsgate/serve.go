package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/tlsgate/tlsgate/gateway"
	"github.com/tlsgate/tlsgate/gateway/config"
)

// configFlags are the flags of the commands that read a configuration.
func configFlags(fs *pflag.FlagSet) {
	fs.String("config", "", "YAML configuration file (default: the built-in default, one tenant on 127.0.0.1:8443)")
	fs.String("data-dir", "", "data directory (default ~/.local/share/tlsgate)")
	fs.String("admin", "", "admin listener address instead of the configured one (\"off\" disables it)")
}

// serveFlags are serve's own flags.
func serveFlags(fs *pflag.FlagSet) {
	fs.String("listen", "", "serve on this one address instead of the configured listeners (e.g. 127.0.0.1:9443)")
	fs.String("log-level", envOr("TLSGATE_LOG_LEVEL", "info"), "log level: debug, info, warn, error (env TLSGATE_LOG_LEVEL)")
	fs.String("log-format", envOr("TLSGATE_LOG_FORMAT", "text"), "log format: text (key=value) or json (one object per line) (env TLSGATE_LOG_FORMAT)")
}

func envOr(name, def string) string {
	if v := os.Getenv(name); v != "" {
		return v
	}
	return def
}

// loadConfig reads the configuration the flags name. A configuration that
// does not validate is reported with every problem found, those of its
// certificate files included.
func loadConfig(cmd *cobra.Command) (*config.Config, error) {
	file, _ := cmd.Flags().GetString("config")
	fs := pflag.NewFlagSet("config", pflag.ContinueOnError)
	cmd.Flags().VisitAll(func(f *pflag.Flag) {
		if f.Name == "data-dir" {
			fs.AddFlag(f)
		}
	})
	cfg, err := config.Load(config.Source{File: file, Environ: os.Environ(), Flags: fs})
	if err != nil {
		if cfg != nil && errors.Is(err, config.ErrInvalid) {
			err = config.Annotate(file, err, gateway.CheckFiles(cfg)...)
		}
		return nil, configError(err)
	}
	if f := cmd.Flags().Lookup("listen"); f != nil && f.Value.String() != "" {
		cfg.Listeners = []config.Listener{{Address: f.Value.String()}}
	}
	if a, _ := cmd.Flags().GetString("admin"); a != "" {
		cfg.Admin.Address = a
	}
	if err := cfg.Validate(); err != nil {
		return nil, configError(err)
	}
	return cfg, nil
}

func newLogger(cmd *cobra.Command) (*slog.Logger, error) {
	lvl, _ := cmd.Flags().GetString("log-level")
	var l slog.Level
	if err := l.UnmarshalText([]byte(lvl)); err != nil {
		return nil, &exitError{code: exitUsage, err: fmt.Errorf("--log-level: %w", err)}
	}
	opts := &slog.HandlerOptions{Level: l}
	switch f, _ := cmd.Flags().GetString("log-format"); f {
	case "text":
		return slog.New(slog.NewTextHandler(os.Stderr, opts)), nil
	case "json":
		return slog.New(slog.NewJSONHandler(os.Stderr, opts)), nil
	default:
		return nil, &exitError{code: exitUsage, err: fmt.Errorf("--log-format: %q is not one of text, json", f)}
	}
}

func newServe() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "serve",
		Short: "Run the gateway (SIGHUP reloads the config file; SIGINT/SIGTERM shut down gracefully)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			log, err := newLogger(cmd)
			if err != nil {
				return err
			}
			cfg, err := loadConfig(cmd)
			if err != nil {
				return err
			}
			ctx := cmd.Context()
			file, _ := cmd.Flags().GetString("config")
			if file == "" {
				file = "(built-in default)"
			}
			log.Info("tlsgate starting", "version", fullVersion(), "config", file, "data_dir", cfg.DataDir,
				"tenants", len(cfg.Tenants), "registry", cfg.Registry.Enabled)
			g, err := gateway.New(ctx, cfg, gateway.WithLogger(log), gateway.WithVersion(fullVersion()))
			if err != nil {
				return err
			}
			for i, a := range g.Addrs() {
				log.Info("tlsgate ready", "listener", a.String(), "tenants", len(cfg.Tenants), "index", i)
			}
			sigs := make(chan os.Signal, 1)
			signal.Notify(sigs, syscall.SIGINT, syscall.SIGTERM, syscall.SIGHUP)
			defer signal.Stop(sigs)
			for sig := range sigs {
				if sig == syscall.SIGHUP {
					reload(ctx, cmd, g, log)
					continue
				}
				log.Info("shutting down", "signal", sig.String(), "deadline", cfg.ShutdownTimeout)
				sctx, cancel := context.WithTimeout(context.Background(), cfg.ShutdownTimeout)
				err := g.Close(sctx)
				cancel()
				return err
			}
			return nil
		},
	}
	configFlags(cmd.Flags())
	serveFlags(cmd.Flags())
	return cmd
}

func reload(ctx context.Context, cmd *cobra.Command, g *gateway.Gateway, log *slog.Logger) {
	err := g.ReloadWith(ctx, func() (*config.Config, error) { return loadConfig(cmd) })
	if err != nil {
		log.Error("reload refused: the configuration in force keeps serving",
			"reason", strings.TrimPrefix(err.Error(), gateway.ErrReloadRefused.Error()+": "))
	}
}
