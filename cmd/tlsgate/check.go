package main

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/tlsgate/tlsgate/gateway"
)

func newCheck() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "check",
		Short: "Validate a configuration and load every certificate and guest, without serving",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := loadConfig(cmd)
			if err != nil {
				return err
			}
			ctx := cmd.Context()
			report, err := gateway.Check(ctx, cfg)
			if err != nil {
				return &exitError{code: exitUsage, err: err}
			}
			for _, line := range report {
				fmt.Fprintln(cmd.OutOrStdout(), line)
			}
			fmt.Fprintln(cmd.OutOrStdout(), "configuration OK")
			return nil
		},
	}
	configFlags(cmd.Flags())
	return cmd
}
