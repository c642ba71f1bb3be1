package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"io"
	"log/slog"
	"os"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/tlsgate/tlsgate/gateway"
	"github.com/tlsgate/tlsgate/gateway/natskv"
)

func newGuest() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "guest",
		Short: "Deploy guest modules fleet-wide through the NATS object store",
		Long: "Tenants whose guest module is \"nats:<name>\" read it from the NATS object store bucket " +
			natskv.GuestBucket + "; every gateway joined to that NATS reloads them when it changes.",
	}
	natsFlags(cmd)
	cmd.AddCommand(newGuestPush(), newGuestList(), newGuestNew(), newGuestCheck())
	return cmd
}

// natsFlags are how a deployer's command reaches the fleet's NATS.
func natsFlags(cmd *cobra.Command) {
	cmd.PersistentFlags().String("nats", "nats://127.0.0.1:4222", "NATS URL of the fleet")
	cmd.PersistentFlags().String("creds", "", "NATS credentials file")
	cmd.PersistentFlags().String("nkey", "", "NKey seed file of a deployer (a gateway's embedded NATS: <data_dir>/nats-deployer.nk)")
	cmd.PersistentFlags().String("ca", "", "CA certificate (PEM) that the NATS server's TLS certificate chains to")
}

// connectNATS connects to the fleet's NATS and waits, bounded, until it is
// reachable.
func connectNATS(cmd *cobra.Command) (*natskv.Client, error) {
	url, _ := cmd.Flags().GetString("nats")
	creds, _ := cmd.Flags().GetString("creds")
	opts := []natskv.ClientOption{natskv.WithURL(url), natskv.WithName("tlsgate " + cmd.Parent().Name()),
		natskv.WithLogger(slog.New(slog.DiscardHandler))}
	if creds != "" {
		opts = append(opts, natskv.WithCredsFile(creds))
	}
	if nkey, _ := cmd.Flags().GetString("nkey"); nkey != "" {
		opts = append(opts, natskv.WithNkeySeedFile(nkey))
	}
	if ca, _ := cmd.Flags().GetString("ca"); ca != "" {
		pem, err := os.ReadFile(ca)
		if err != nil {
			return nil, fmt.Errorf("--ca: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("--ca: %s holds no PEM certificate", ca)
		}
		opts = append(opts, natskv.WithTLSConfig(&tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}))
	}
	c, err := natskv.Connect(cmd.Context(), opts...)
	if err != nil {
		return nil, err
	}
	for deadline := time.Now().Add(5 * time.Second); !c.Connected(); time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			c.Close(context.WithoutCancel(cmd.Context()))
			if err := c.LastError(); err != nil {
				return nil, fmt.Errorf("cannot reach NATS at %s: %w", url, err)
			}
			return nil, fmt.Errorf("cannot reach NATS at %s", url)
		}
	}
	return c, nil
}

// withNATS runs fn with a client of the fleet's NATS, closed after.
func withNATS(cmd *cobra.Command, fn func(*natskv.Client) error) error {
	c, err := connectNATS(cmd)
	if err != nil {
		return err
	}
	defer c.Close(context.WithoutCancel(cmd.Context()))
	return fn(c)
}

func newGuestPush() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "push NAME FILE.wasm",
		Short: "Check a guest module against the ABI, then deploy it as nats:NAME",
		Args:  cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			name, file := args[0], args[1]
			if err := natskv.ValidateGuestName(name); err != nil {
				return &exitError{code: 2, err: err}
			}
			wasm, err := os.ReadFile(file)
			if err != nil {
				return &exitError{code: 2, err: err}
			}
			guestConfig, _ := cmd.Flags().GetString("guest-config")
			if _, err := gateway.CheckGuestModule(cmd.Context(), file, wasm, []byte(guestConfig)); err != nil {
				return &exitError{code: 2, err: fmt.Errorf("%s refused, nothing deployed: %w", file, err)}
			}
			return withNATS(cmd, func(c *natskv.Client) error {
				info, err := c.PutGuestModule(cmd.Context(), name, wasm)
				if err != nil {
					return err
				}
				fmt.Fprintf(cmd.OutOrStdout(), "deployed nats:%s (%d bytes, %s)\n", info.Name, info.Size, info.Digest)
				return nil
			})
		},
	}
	cmd.Flags().String("guest-config", "", "guest config to run tlsgate_on_init with while checking")
	return cmd
}

func newGuestList() *cobra.Command {
	return &cobra.Command{
		Use:   "list",
		Short: "List the deployed guest modules",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return withNATS(cmd, func(c *natskv.Client) error {
				list, err := c.GuestModules(cmd.Context())
				if err != nil {
					return err
				}
				printGuests(cmd.OutOrStdout(), list)
				return nil
			})
		},
	}
}

func printGuests(w io.Writer, list []natskv.GuestInfo) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "MODULE\tBYTES\tMODIFIED\tDIGEST")
	for _, g := range list {
		fmt.Fprintf(tw, "nats:%s\t%d\t%s\t%s\n", g.Name, g.Size, g.Modified.UTC().Format(time.RFC3339), g.Digest)
	}
	tw.Flush()
}
