package main

import (
	"context"
	"fmt"
	"io"

	"github.com/spf13/cobra"

	"github.com/locksmithx/locksmith/host"
)

func checkCommand(g *globals) *cobra.Command {
	var asJSON, named bool
	c := &cobra.Command{
		Use:   "check [RESOURCE]",
		Short: "Check the backend's stored lock state (of every resource it can find when none is named)",
		Long: `Check inspects the backend's stored state of RESOURCE, or of every resource
the backend can find, without changing it. It exits 0 when nothing is
wrong and 1 when it found a problem; "locksmith repair RESOURCE" fixes it.`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			resource := ""
			if len(args) == 1 {
				var err error
				if resource, err = resourceKey(args[0], named); err != nil {
					return err
				}
			}
			return withHost(g, func(ctx context.Context, h *host.Host) error {
				ps, err := h.Check(ctx, resource)
				if err != nil {
					return startFailure(err, exitFailure)
				}
				if err := printProblems(cmd.OutOrStdout(), resource, ps, false, asJSON); err != nil {
					return err
				}
				if len(ps) > 0 {
					return &exitError{code: exitFailure}
				}
				return nil
			})
		},
	}
	c.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	c.Flags().BoolVar(&named, "named", false, "RESOURCE is a lock name, not a file")
	return c
}

func repairCommand(g *globals) *cobra.Command {
	var asJSON, named bool
	c := &cobra.Command{
		Use:   "repair RESOURCE",
		Short: "Repair the backend's stored lock state of a resource",
		Long: `Repair fixes what "locksmith check" reports for RESOURCE and says what it
changed. State it cannot trust is dropped: a lock whose state was
unreadable is free afterwards. It exits 0 when everything found was
repaired (or nothing was wrong) and 1 otherwise.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			resource, err := resourceKey(args[0], named)
			if err != nil {
				return err
			}
			return withHost(g, func(ctx context.Context, h *host.Host) error {
				ps, err := h.Repair(ctx, resource)
				if err != nil {
					return startFailure(err, exitFailure)
				}
				if err := printProblems(cmd.OutOrStdout(), resource, ps, true, asJSON); err != nil {
					return err
				}
				for _, p := range ps {
					if !p.Repaired {
						return &exitError{code: exitFailure}
					}
				}
				return nil
			})
		},
	}
	c.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	c.Flags().BoolVar(&named, "named", false, "RESOURCE is a lock name, not a file")
	return c
}

// printProblems prints what check found or repair did.
func printProblems(out io.Writer, resource string, ps []host.Problem, repair, asJSON bool) error {
	if asJSON {
		if ps == nil {
			ps = []host.Problem{}
		}
		return writeJSON(out, ps)
	}
	what := resource
	if what == "" {
		what = "any resource"
	}
	if len(ps) == 0 {
		_, err := fmt.Fprintf(out, "no problem found in %s\n", what)
		return err
	}
	for _, p := range ps {
		verdict := "problem"
		if repair {
			verdict = "not repaired"
			if p.Repaired {
				verdict = "repaired"
			}
		}
		where := p.Resource
		if p.Path != "" {
			where += " (" + p.Path + ")"
		}
		fmt.Fprintf(out, "%s: %s: %s\n", verdict, where, p.Message)
	}
	if !repair {
		_, err := fmt.Fprintf(out, "%d problem(s); run: locksmith repair RESOURCE\n", len(ps))
		return err
	}
	return nil
}
