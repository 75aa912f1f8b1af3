package main

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/knadh/koanf/parsers/yaml"
	"github.com/spf13/cobra"

	"github.com/locksmithx/locksmith/config"
	"github.com/locksmithx/locksmith/host"
)

func configCommand(g *globals) *cobra.Command {
	c := &cobra.Command{Use: "config", Short: "Check and show the configuration"}
	c.AddCommand(&cobra.Command{
		Use:   "validate FILE",
		Short: "Check a config file, and have each plugin it uses check its own block",
		Long: `Validate loads FILE over the defaults (with the LOCKSMITH_* environment and
flags on top, as every command does), checks it, then starts the backend
and each middleware it names, hands each its config block to check, and
stops them. Every problem is printed with its key path
(plugins.audit.config.paht: unknown key). It exits 0 when the config is
valid and 2 when it is not.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			g.configFile = args[0]
			cfg, err := g.loadConfig(nil)
			if err != nil {
				return err
			}
			ctx, cancel := context.WithTimeout(cmd.Context(), 30*time.Second)
			defer cancel()
			if err := host.ValidateConfig(ctx, cfg, host.WithBuiltins(builtinNames()...)); err != nil {
				var lines []string
				for _, e := range unjoin(err) {
					lines = append(lines, message(e))
				}
				return &exitError{code: exitUsage, err: fmt.Errorf("%s is not valid:\n  %s", args[0], strings.Join(lines, "\n  "))}
			}
			fmt.Fprintf(cmd.OutOrStdout(), "ok: %s is valid (backend %s, middleware [%s])\n", args[0], cfg.Backend, strings.Join(cfg.Middleware, ", "))
			return nil
		},
	})
	var asJSON bool
	show := &cobra.Command{
		Use:   "show",
		Short: "Print the config in effect: defaults, file, environment and flags merged, secrets redacted",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := g.loadConfig(nil)
			if err != nil {
				return err
			}
			m := config.Show(cfg)
			if asJSON {
				return writeJSON(cmd.OutOrStdout(), m)
			}
			raw, err := yaml.Parser().Marshal(m)
			if err != nil {
				return err
			}
			_, err = cmd.OutOrStdout().Write(raw)
			return err
		},
	}
	show.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	c.AddCommand(show)
	return c
}

// unjoin splits an errors.Join into its errors.
func unjoin(err error) []error {
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		var out []error
		for _, e := range j.Unwrap() {
			out = append(out, unjoin(e)...)
		}
		return out
	}
	return []error{err}
}
