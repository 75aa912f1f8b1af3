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
		Short: "Show who holds a lock and who waits for it",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			resource, err := resourceKey(args[0], named)
			if err != nil {
				return err
			}
			return withHost(g, func(ctx context.Context, h *host.Host) error {
				st, err := h.Status(ctx, resource)
				if err != nil {
					return err
				}
				return printStatus(cmd.OutOrStdout(), st, asJSON)
			})
		},
	}
	c.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	c.Flags().BoolVar(&named, "named", false, "RESOURCE is a lock name, not a file")
	return c
}

// printStatus prints a resource's holders and waiters.
func printStatus(out io.Writer, st host.ResourceStatus, asJSON bool) error {
	if asJSON {
		return writeJSON(out, st)
	}
	fmt.Fprintf(out, "%s (revision %d): %d holder(s), %d waiter(s)\n", st.Resource, st.Revision, len(st.Holders), len(st.Waiters))
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
