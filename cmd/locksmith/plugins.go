package main

import (
	"context"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/locksmithx/locksmith/host"
)

func pluginsCommand(g *globals) *cobra.Command {
	var asJSON bool
	c := &cobra.Command{
		Use:   "plugins",
		Short: "List plugins: name, version, path, sha256, health",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return withHost(g, func(ctx context.Context, h *host.Host) error {
				return printPlugins(cmd.OutOrStdout(), h.Plugins(ctx), asJSON)
			})
		},
	}
	c.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	return c
}

// printPlugins prints the plugin list.
func printPlugins(out io.Writer, list []host.PluginStatus, asJSON bool) error {
	if asJSON {
		return writeJSON(out, list)
	}
	tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "NAME\tKIND\tBACKEND\tVERSION\tSOURCE\tPATH\tSHA256\tREADY\tHEALTH")
	for _, p := range list {
		name := p.Name
		if p.Active {
			name += " *"
		}
		sum := p.SHA256
		if len(sum) > 12 {
			sum = sum[:12] + "…"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", name, dash(p.Kind), backendColumn(p), dash(p.Version), dash(p.Source),
			dash(p.Path), dash(sum), p.Ready.Round(100*time.Microsecond), p.Health)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	for _, p := range list {
		for _, w := range p.Warnings {
			fmt.Fprintf(out, "warning: %s: %s\n", p.Name, w)
		}
	}
	fmt.Fprintln(out, "(* the active backend)")
	return nil
}

// backendColumn says what a running backend is to the host: its role
// (default, migrating-from, named, draining) and the leases it holds.
func backendColumn(p host.PluginStatus) string {
	if p.Role == "" {
		return "-"
	}
	if p.Leases > 0 {
		return fmt.Sprintf("%s (%d leases)", p.Role, p.Leases)
	}
	return p.Role
}

func dash(s string) string {
	if strings.TrimSpace(s) == "" {
		return "-"
	}
	return s
}
