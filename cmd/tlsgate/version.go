package main

import (
	"fmt"
	"runtime"

	"github.com/spf13/cobra"

	"github.com/tlsgate/tlsgate/abi"
	"github.com/tlsgate/tlsgate/gateway"
)

func newVersion() *cobra.Command {
	return &cobra.Command{
		Use:   "version",
		Short: "Print the version, Go toolchain, guest ABI and build features",
		Args:  cobra.NoArgs,
		Run: func(cmd *cobra.Command, _ []string) {
			sid := "no (tickets and TLS 1.3 PSK only; build with `make build` to add it)"
			if gateway.SessionIDResumption {
				sid = "yes (patched crypto/tls)"
			}
			w := cmd.OutOrStdout()
			fmt.Fprintf(w, "tlsgate %s\n", fullVersion())
			fmt.Fprintf(w, "go: %s %s/%s\n", runtime.Version(), runtime.GOOS, runtime.GOARCH)
			fmt.Fprintf(w, "guest abi: v%d\n", abi.Version)
			fmt.Fprintf(w, "tls 1.2 session-id resumption: %s\n", sid)
		},
	}
}
