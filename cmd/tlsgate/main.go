// Command tlsgate is a TLS gateway whose session resumption is programmable
// with sandboxed WebAssembly guests.
//
//	tlsgate serve [--config FILE]     run the gateway (embedded defaults without a config)
//	tlsgate check --config FILE       validate a config and load every guest
//	tlsgate version                   print the version and build features
//	tlsgate guest push NAME FILE      deploy a guest fleet-wide (NATS object store)
//	tlsgate bench --addr HOST:PORT    measure TLS handshakes against any server
package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"runtime/debug"
	"strings"

	"github.com/spf13/cobra"

	"github.com/tlsgate/tlsgate/gateway/config"
	"github.com/tlsgate/tlsgate/internal/bench"
)

// version is set at build time with -ldflags "-X main.version=..." (make
// build does, from git describe); otherwise it comes from the module's
// build information (fullVersion).
var version = "dev"

// exitError carries a process exit code out of a command.
type exitError struct {
	code int
	err  error
}

func (e *exitError) Error() string { return e.err.Error() }
func (e *exitError) Unwrap() error { return e.err }

// Exit codes: 0 success; 1 a failure while running (a gateway that could
// not start, a run that failed); 2 the input is wrong: a usage error (an
// unknown command or flag, a missing or extra argument) or a configuration
// that does not validate or load.
const (
	exitFailure = 1
	exitUsage   = 2
)

func main() {
	root := newRoot()
	if err := root.ExecuteContext(context.Background()); err != nil {
		fmt.Fprintln(os.Stderr, "tlsgate:", err)
		var ee *exitError
		switch {
		case errors.As(err, &ee):
			os.Exit(ee.code)
		case strings.HasPrefix(err.Error(), "unknown command"):
			os.Exit(exitUsage)
		}
		os.Exit(exitFailure)
	}
}

const envHelp = `Environment:
  Every configuration field can also be set by environment, overriding the
  file: TLSGATE_ and the field's path in capitals, a double underscore
  between levels (TLSGATE_DATA_DIR=/var/lib/tlsgate,
  TLSGATE_ADMIN__ADDRESS=127.0.0.1:9100, TLSGATE_NATS__URL=nats://n1:4222).
  Flags override both. TLSGATE_LOG_LEVEL and TLSGATE_LOG_FORMAT are the
  defaults of --log-level and --log-format.

Exit codes: 0 success, 1 failure while running, 2 usage or configuration error.`

func newRoot() *cobra.Command {
	root := &cobra.Command{
		Use:           "tlsgate",
		Short:         "A TLS gateway with session resumption programmable in WebAssembly",
		Long:          "A TLS gateway with session resumption programmable in WebAssembly.\n\n" + envHelp,
		Version:       fullVersion(),
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.SetVersionTemplate("tlsgate {{.Version}}\n")
	root.AddCommand(newServe(), newCheck(), newVersion(), newGuest(), newTenant(), bench.NewCommand())
	usageErrors(root)
	return root
}

// usageErrors makes flag and argument errors of cmd and its subcommands
// exit with exitUsage.
func usageErrors(cmd *cobra.Command) {
	cmd.SetFlagErrorFunc(func(c *cobra.Command, err error) error {
		return &exitError{code: exitUsage, err: fmt.Errorf("%w (see %s --help)", err, c.CommandPath())}
	})
	if args := cmd.Args; args != nil {
		cmd.Args = func(c *cobra.Command, a []string) error {
			if err := args(c, a); err != nil {
				return &exitError{code: exitUsage, err: fmt.Errorf("%s: %w", c.CommandPath(), err)}
			}
			return nil
		}
	}
	for _, c := range cmd.Commands() {
		usageErrors(c)
	}
}

// fullVersion is version, or without one set at build time, the module
// version of the build (a go install of a tagged version) or its VCS
// revision: "dev (a1b2c3d4e5f6, 2026-12-02T10:00:00Z, modified)".
func fullVersion() string {
	if version != "dev" {
		return version
	}
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return version
	}
	if v := bi.Main.Version; v != "" && v != "(devel)" {
		return v
	}
	var rev, at, modified string
	for _, s := range bi.Settings {
		switch s.Key {
		case "vcs.revision":
			rev = s.Value[:min(12, len(s.Value))]
		case "vcs.time":
			at = s.Value
		case "vcs.modified":
			if s.Value == "true" {
				modified = ", modified"
			}
		}
	}
	if rev == "" {
		return version
	}
	return fmt.Sprintf("%s (%s, %s%s)", version, rev, at, modified)
}

// configError marks a configuration that does not validate or load.
func configError(err error) error {
	if errors.Is(err, config.ErrInvalid) {
		return &exitError{code: exitUsage, err: fmt.Errorf("invalid configuration:\n%w", err)}
	}
	return &exitError{code: exitUsage, err: err}
}
