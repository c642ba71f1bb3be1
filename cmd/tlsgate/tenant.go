package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/tlsgate/tlsgate/gateway"
	"github.com/tlsgate/tlsgate/gateway/config"
	"github.com/tlsgate/tlsgate/gateway/natskv"
)

func newTenant() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "tenant",
		Short: "Define tenants fleet-wide in the NATS tenant registry",
		Long: "Gateways with registry.enabled serve the tenants of the registry (the NATS KV bucket " + natskv.TenantsBucket +
			") beside those of their configuration file, and apply a change within about a second. A tenant's certificate and key " +
			"are kept in " + natskv.CertsBucket + ", the key sealed with the fleet's sealing keys.",
	}
	natsFlags(cmd)
	cmd.AddCommand(newTenantPut(), newTenantGet(), newTenantList(), newTenantRm())
	return cmd
}

func newTenantPut() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "put -f TENANT.yaml",
		Short: "Validate a tenant document, its certificate and guest, then put it in the registry",
		Long: "TENANT.yaml has the fields of one entry of tenants[] in the configuration file. Its certificate is cert_file and " +
			"key_file (read here, relative to the document; the key is sealed with --keys) or self_signed. Its guest module is " +
			config.BuiltinSessionCache + " or nats:<name>. Nothing is written if anything is wrong.",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			file, _ := cmd.Flags().GetString("file")
			if file == "" {
				return &exitError{code: 2, err: errors.New("-f TENANT.yaml is required")}
			}
			data, err := os.ReadFile(file)
			if err != nil {
				return &exitError{code: 2, err: err}
			}
			var keys []config.SealingKey
			if tc, err := config.ParseTenantInput(file, data); err != nil {
				return &exitError{code: 2, err: fmt.Errorf("%w\nnothing written", err)}
			} else if tc.Certificate.CertFile != "" {
				path, _ := cmd.Flags().GetString("keys")
				if keys, err = gateway.ReadSealingKeys(path); err != nil {
					return &exitError{code: 2, err: fmt.Errorf("--keys: %w (the fleet's sealing keys seal the certificate's key)", err)}
				}
			}
			return withNATS(cmd, func(c *natskv.Client) error {
				rt, err := gateway.PrepareTenant(cmd.Context(), keys, c, file, data)
				if err != nil {
					return &exitError{code: 2, err: fmt.Errorf("%w\nnothing written", err)}
				}
				if err := c.PutTenant(cmd.Context(), rt.Name, rt.Doc, rt.Certificate); err != nil {
					return err
				}
				fmt.Fprintf(cmd.OutOrStdout(), "put tenant %s\n", rt.Name)
				return nil
			})
		},
	}
	cmd.Flags().StringP("file", "f", "", "the tenant document (YAML)")
	cmd.Flags().String("keys", filepath.Join(config.DefaultDataDir(), "sealing-keys.yaml"),
		"the fleet's sealing keys file (a gateway's <data_dir>/sealing-keys.yaml, or its sealing.keys_file)")
	return cmd
}

func newTenantGet() *cobra.Command {
	return &cobra.Command{
		Use:   "get NAME",
		Short: "Print a registry tenant's document",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return withNATS(cmd, func(c *natskv.Client) error {
				doc, err := c.TenantDoc(cmd.Context(), args[0])
				if err != nil {
					return err
				}
				var out bytes.Buffer
				if json.Indent(&out, doc, "", "  ") != nil {
					out.Reset()
					out.Write(doc)
				}
				fmt.Fprintln(cmd.OutOrStdout(), out.String())
				return nil
			})
		},
	}
}

func newTenantList() *cobra.Command {
	return &cobra.Command{
		Use:   "list",
		Short: "List the registry's tenants",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return withNATS(cmd, func(c *natskv.Client) error { return listTenants(cmd, c) })
		},
	}
}

func listTenants(cmd *cobra.Command, c *natskv.Client) error {
	names, err := c.TenantNames(cmd.Context())
	if err != nil {
		return err
	}
	tw := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "TENANT\tSERVER NAMES\tGUEST\tCERTIFICATE")
	for _, name := range names {
		doc, err := c.TenantDoc(cmd.Context(), name)
		if errors.Is(err, natskv.ErrTenantNotFound) {
			continue // removed meanwhile
		}
		if err != nil {
			return err
		}
		tc, err := config.ParseTenantStored(name, doc)
		if err != nil {
			fmt.Fprintf(tw, "%s\t(invalid document: %v)\t\t\n", name, err)
			continue
		}
		guest, cert := "-", "self-signed"
		if tc.Guest != nil {
			guest = tc.Guest.Module
		}
		if tc.Certificate.NATS != "" {
			cert = fmt.Sprintf("sha256:%.12s", tc.Certificate.NATS)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", name, strings.Join(tc.ServerNames, ","), guest, cert)
	}
	return tw.Flush()
}

func newTenantRm() *cobra.Command {
	return &cobra.Command{
		Use:   "rm NAME",
		Short: "Remove a tenant from the registry (gateways stop serving it)",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return withNATS(cmd, func(c *natskv.Client) error {
				if err := c.DeleteTenant(cmd.Context(), args[0]); err != nil {
					return err
				}
				fmt.Fprintf(cmd.OutOrStdout(), "removed tenant %s\n", args[0])
				return nil
			})
		},
	}
}
