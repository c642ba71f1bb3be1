package main

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"syscall"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/tlsgate/tlsgate/gateway"
	"github.com/tlsgate/tlsgate/gateway/config"
)

func configFlags(fs *pflag.FlagSet) {
	fs.String("config", "", "YAML configuration file (default: the built-in default, one tenant on 127.0.0.1:8443)")
	fs.String("data-dir", "", "data directory (default ~/.local/share/tlsgate)")
	fs.String("log-level", "info", "log level: debug, info, warn, error")
	fs.String("listen", "", "serve on this one address instead of the configured listeners (e.g. 127.0.0.1:9443)")
	fs.String("admin", "", "admin listener address instead of the configured one (\"off\" disables it)")
}

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
		return nil, configError(err)
	}
	if l, _ := cmd.Flags().GetString("listen"); l != "" {
		cfg.Listeners = []config.Listener{{Address: l}}
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
		return nil, &exitError{code: 2, err: fmt.Errorf("--log-level: %w", err)}
	}
	return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: l})), nil
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
			g, err := gateway.New(ctx, cfg, gateway.WithLogger(log), gateway.WithVersion(version))
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
	return cmd
}

func reload(ctx context.Context, cmd *cobra.Command, g *gateway.Gateway, log *slog.Logger) {
	err := g.ReloadWith(ctx, func() (*config.Config, error) { return loadConfig(cmd) })
	if err != nil {
		log.Error("reload refused: the configuration in force keeps serving", "err", err)
	}
}
