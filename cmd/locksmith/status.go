package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/locksmithx/locksmith/host"
)

func statusCommand(g *globals) *cobra.Command {
	var asJSON, named bool
	c := &cobra.Command{
		Use:   "status RESOURCE",
		Short: "Show who holds a lock and who waits for it, on each backend",
		Long: `Show who holds RESOURCE and who waits for it. When the config runs several
backends (backends:, or a migration backend: { from, to }), the queue on
each of them is shown, headed by the backend's name (--json prints a list);
--backend NAME shows that backend's alone.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			resource, err := resourceKey(args[0], named)
			if err != nil {
				return err
			}
			return withHost(g, func(ctx context.Context, h *host.Host) error {
				sts, err := statuses(ctx, h, resource)
				if err != nil {
					return err
				}
				if len(sts) == 1 {
					return printStatus(cmd.OutOrStdout(), sts[0], asJSON)
				}
				if asJSON {
					return writeJSON(cmd.OutOrStdout(), sts)
				}
				for _, st := range sts {
					if err := printStatus(cmd.OutOrStdout(), st, false); err != nil {
						return err
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

// statuses reads resource's queue on the backend ctx names (--backend),
// or else on every backend the host runs, the default first.
func statuses(ctx context.Context, h *host.Host, resource string) ([]host.ResourceStatus, error) {
	names := h.Backends()
	if host.BackendOf(ctx) != "" {
		names = []string{host.BackendOf(ctx)}
	}
	var out []host.ResourceStatus
	for _, name := range names {
		st, err := h.Status(host.UsingBackend(ctx, name), resource)
		if err != nil {
			return nil, err
		}
		out = append(out, st)
	}
	return out, nil
}

// printStatus prints a resource's holders and waiters.
func printStatus(out io.Writer, st host.ResourceStatus, asJSON bool) error {
	if asJSON {
		return writeJSON(out, st)
	}
	on := ""
	if st.Backend != "" {
		on = " on " + st.Backend
	}
	fmt.Fprintf(out, "%s%s (revision %d): %d holder(s), %d waiter(s)\n", st.Resource, on, st.Revision, len(st.Holders), len(st.Waiters))
	if len(st.Holders)+len(st.Waiters) == 0 {
		return nil
	}
	tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ROLE\tMODE\tTOKEN\tSESSION\tPID\tHOST\tAGE\tMETA")
	for _, r := range append(st.Holders, st.Waiters...) {
		role := "waiter"
		if r.Granted {
			role = "holder"
		}
		fmt.Fprintf(tw, "%s\t%s\t%d\t%s\t%d\t%s\t%s\t%s\n", role, r.Mode, r.Token, r.Session, r.PID, r.Host,
			humanDuration(r.Age), formatMeta(r.Meta))
	}
	return tw.Flush()
}

// resourceKey normalises a RESOURCE argument.
func resourceKey(arg string, named bool) (string, error) {
	var (
		r   string
		err error
	)
	if named {
		r, err = host.NamedResource(arg)
	} else {
		r, err = host.FileResource(arg)
	}
	if err != nil {
		return "", usageErr("%v", err)
	}
	return r, nil
}

func formatMeta(m map[string]string) string {
	if len(m) == 0 {
		return "-"
	}
	b, _ := json.Marshal(m)
	return string(b)
}
