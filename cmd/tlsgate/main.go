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

	"github.com/spf13/cobra"

	"github.com/tlsgate/tlsgate/gateway/config"
	"github.com/tlsgate/tlsgate/internal/bench"
)

// version is set at build time with -ldflags "-X main.version=...".
var version = "dev"

// exitError carries a process exit code out of a command.
type exitError struct {
	code int
	err  error
}

func (e *exitError) Error() string { return e.err.Error() }
func (e *exitError) Unwrap() error { return e.err }

func main() {
	root := newRoot()
	if err := root.ExecuteContext(context.Background()); err != nil {
		fmt.Fprintln(os.Stderr, "tlsgate:", err)
		var ee *exitError
		if errors.As(err, &ee) {
			os.Exit(ee.code)
		}
		os.Exit(1)
	}
}

func newRoot() *cobra.Command {
	root := &cobra.Command{
		Use:           "tlsgate",
		Short:         "A TLS gateway with session resumption programmable in WebAssembly",
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.AddCommand(newServe(), newCheck(), newVersion(), newGuest(), newTenant(), bench.NewCommand())
	return root
}

// configError marks a configuration that does not validate: exit code 2.
func configError(err error) error {
	if errors.Is(err, config.ErrInvalid) {
		return &exitError{code: 2, err: fmt.Errorf("invalid configuration:\n%w", err)}
	}
	return &exitError{code: 2, err: err}
}
