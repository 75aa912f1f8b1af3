package main

import (
	"context"
	"fmt"
	"io"
	"strings"

	"github.com/spf13/cobra"

	"github.com/locksmithx/locksmith/host"
)

func treeCommand(g *globals) *cobra.Command {
	var (
		asJSON        bool
		server, token string
	)
	c := &cobra.Command{
		Use:   "tree",
		Short: "Show the lock tree: every resource with holders or waiters, by its /-separated parts",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if server != "" {
				r, err := newRemote(server, token)
				if err != nil {
					return err
				}
				ctx, cancel := context.WithTimeout(context.Background(), inspectTimeout)
				defer cancel()
				var t host.TreeNode
				if err := r.get(ctx, "/api/v1/tree", &t); err != nil {
					return err
				}
				return printTreeRoot(cmd.OutOrStdout(), &t, asJSON)
			}
			return withHost(g, func(ctx context.Context, h *host.Host) error {
				t, err := h.Tree(ctx)
				if err != nil {
					return err
				}
				return printTreeRoot(cmd.OutOrStdout(), t, asJSON)
			})
		},
	}
	c.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	serverFlags(c, &server, &token)
	return c
}

// printTreeRoot prints the whole lock tree.
func printTreeRoot(out io.Writer, t *host.TreeNode, asJSON bool) error {
	if asJSON {
		return writeJSON(out, t)
	}
	if len(t.Children) == 0 {
		fmt.Fprintln(out, "no locks held or awaited")
		return nil
	}
	for _, c := range t.Children {
		printTree(out, c, "")
	}
	return nil
}

func printTree(out io.Writer, n *host.TreeNode, indent string) {
	line := indent + n.Name
	if n.Status != nil {
		var parts []string
		for _, r := range n.Status.Holders {
			parts = append(parts, fmt.Sprintf("held %s by pid %d for %s (token %d)", r.Mode, r.PID, humanDuration(r.Age), r.Token))
		}
		for _, r := range n.Status.Waiters {
			parts = append(parts, fmt.Sprintf("waiting %s by pid %d for %s (token %d)", r.Mode, r.PID, humanDuration(r.Age), r.Token))
		}
		line += "  [" + strings.Join(parts, "; ") + "]"
	}
	fmt.Fprintln(out, line)
	for _, c := range n.Children {
		printTree(out, c, indent+"  ")
	}
}
