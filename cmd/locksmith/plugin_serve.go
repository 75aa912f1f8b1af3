package main

import (
	"fmt"
	"sort"

	"github.com/spf13/cobra"

	"github.com/locksmithx/locksmith/sdk"
)

// builtins are the backends the locksmith binary serves to itself, so that
// `go install …/cmd/locksmith` alone is a working install. Each still runs
// in its own process.
var builtins = map[string]func() sdk.Backend{}

func builtinNames() []string {
	out := make([]string, 0, len(builtins))
	for n := range builtins {
		out = append(out, n)
	}
	for n := range middlewareBuiltins {
		out = append(out, n)
	}
	sort.Strings(out)
	return out
}

func pluginServeCommand() *cobra.Command {
	plugin := &cobra.Command{Use: "plugin", Hidden: true, Short: "Plugin plumbing"}
	plugin.AddCommand(&cobra.Command{
		Use:   "serve NAME",
		Short: "Serve a built-in plugin (run by the host, not by hand)",
		Args:  cobra.ExactArgs(1),
		RunE: func(_ *cobra.Command, args []string) error {
			if newMiddleware, ok := middlewareBuiltins[args[0]]; ok {
				sdk.ServeMiddleware(newMiddleware())
				return fmt.Errorf("plugin %s stopped", args[0])
			}
			newBackend, ok := builtins[args[0]]
			if !ok {
				return usageErr("no built-in plugin %q (built-in: %v)", args[0], builtinNames())
			}
			sdk.ServeBackend(newBackend())
			return fmt.Errorf("plugin %s stopped", args[0])
		},
	})
	return plugin
}
