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
	c.AddCommand(pluginsListCommand(g), pluginsInfoCommand(g), pluginsVerifyCommand(g))
	return c
}

// inspectPlugins loads the config and inspects the plugins name (all of
// them when name is ""), without starting a host.
func inspectPlugins(g *globals, name string, configure bool) ([]host.PluginReport, error) {
	cfg, err := g.loadConfig(nil)
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(context.Background(), inspectTimeout)
	defer cancel()
	opts := []host.Option{host.WithBuiltins(builtinNames()...)}
	if name != "" {
		return []host.PluginReport{host.InspectPlugin(ctx, cfg, name, configure, opts...)}, nil
	}
	return host.InspectPlugins(ctx, cfg, configure, opts...), nil
}

func pluginsListCommand(g *globals) *cobra.Command {
	var asJSON bool
	c := &cobra.Command{
		Use:   "list",
		Short: "List every plugin the host would find, where from, and whether it matches the config",
		Long: `List every plugin the host would find — configured paths, the plugin dir,
beside the locksmith executable, built-in — with its kind, version, protocol
version, capabilities and sha256, and whether it matches the config. Each
plugin is started, asked what it is and stopped; one whose binary does not
match its configured sha256 is never run. No host is started.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			reports, err := inspectPlugins(g, "", false)
			if err != nil {
				return err
			}
			return printReports(cmd.OutOrStdout(), reports, asJSON)
		},
	}
	c.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	return c
}

func pluginsInfoCommand(g *globals) *cobra.Command {
	var asJSON bool
	c := &cobra.Command{
		Use:   "info NAME",
		Short: "Describe one plugin: source, path, kind, version, protocol, capabilities, sha256, problems",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			reports, err := inspectPlugins(g, args[0], false)
			if err != nil {
				return err
			}
			if asJSON {
				return writeJSON(cmd.OutOrStdout(), reports[0])
			}
			printReport(cmd.OutOrStdout(), reports[0])
			return nil
		},
	}
	c.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	return c
}

func pluginsVerifyCommand(g *globals) *cobra.Command {
	var asJSON bool
	c := &cobra.Command{
		Use:   "verify",
		Short: "Check every plugin against the config (sha256, protocol, kind, config section); exit 1 on any problem",
		Long: `Check every plugin the host would find against the config, as list does,
and also hand each plugin the config uses its config section to validate.
Exits 1 when any plugin has a problem, 0 when all match.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			reports, err := inspectPlugins(g, "", true)
			if err != nil {
				return err
			}
			if err := printReports(cmd.OutOrStdout(), reports, asJSON); err != nil {
				return err
			}
			bad := 0
			for _, r := range reports {
				if !r.OK() {
					bad++
				}
			}
			if bad > 0 {
				return &exitError{code: exitFailure, err: fmt.Errorf("verify plugins: %d of %d do not match the config", bad, len(reports))}
			}
			return nil
		},
	}
	c.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	return c
}

// printReports prints one line per plugin, then each problem on a line of
// its own.
func printReports(out io.Writer, reports []host.PluginReport, asJSON bool) error {
	if asJSON {
		return writeJSON(out, reports)
	}
	tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "NAME\tROLE\tKIND\tVERSION\tPROTOCOL\tCAPABILITIES\tSOURCE\tSHA256\tCONFIG")
	for _, r := range reports {
		proto := "-"
		if r.Protocol != 0 {
			proto = fmt.Sprint(r.Protocol)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", r.Name, dash(r.Role), dash(r.Kind), dash(r.Version), proto,
			dash(strings.Join(r.Capabilities, ",")), dash(r.Source), dash(short(r.SHA256)), matchWord(r))
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	for _, r := range reports {
		for _, p := range r.Problems {
			fmt.Fprintf(out, "problem: %s: %s\n", r.Name, p)
		}
		for _, w := range r.Warnings {
			fmt.Fprintf(out, "warning: %s: %s\n", r.Name, w)
		}
	}
	return nil
}

// printReport prints one plugin, a field a line.
func printReport(out io.Writer, r host.PluginReport) {
	line := func(k, v string) { fmt.Fprintf(out, "%-14s %s\n", k+":", dash(v)) }
	line("name", r.Name)
	line("role", r.Role)
	line("source", r.Source)
	line("path", strings.TrimSpace(r.Path+" "+strings.Join(r.Args, " ")))
	line("kind", r.Kind)
	line("version", r.Version)
	if r.Protocol != 0 {
		line("protocol", fmt.Sprint(r.Protocol))
	} else {
		line("protocol", "")
	}
	line("capabilities", strings.Join(r.Capabilities, ", "))
	line("sha256", r.SHA256)
	line("expected", r.Expected)
	line("config", matchWord(r))
	for _, w := range r.Warnings {
		line("warning", w)
	}
	for _, p := range r.Problems {
		line("problem", p)
	}
}

// matchWord says in one word how a plugin stands against the config.
func matchWord(r host.PluginReport) string {
	switch {
	case !r.OK():
		return "MISMATCH"
	case r.Expected != "":
		return "ok (sha256 pinned)"
	case r.Role == "" && r.Source != host.SourceConfig:
		return "unused"
	}
	return "ok"
}

func short(sum string) string {
	if len(sum) > 12 {
		return sum[:12] + "…"
	}
	return sum
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
	return printMiddleware(out, list)
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
