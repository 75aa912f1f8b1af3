package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/locksmithx/locksmith/host"
)

func treeCommand(g *globals) *cobra.Command {
	var asJSON bool
	c := &cobra.Command{
		Use:   "tree",
		Short: "Show the lock tree: every resource with holders or waiters, by its /-separated parts",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := g.loadConfig(nil)
			if err != nil {
				return err
			}
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			h, err := openHost(ctx, cfg, exitFailure)
			if err != nil {
				return err
			}
			defer h.Close()
			t, err := h.Tree(ctx)
			if err != nil {
				return err
			}
			out := cmd.OutOrStdout()
			if asJSON {
				enc := json.NewEncoder(out)
				enc.SetIndent("", "  ")
				return enc.Encode(t)
			}
			if len(t.Children) == 0 {
				fmt.Fprintln(out, "no locks held or awaited")
				return nil
			}
			for _, c := range t.Children {
				printTree(out, c, "")
			}
			return nil
		},
	}
	c.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	return c
}

func printTree(out io.Writer, n *host.TreeNode, indent string) {
	line := indent + n.Name
	if n.Status != nil {
		var parts []string
		for _, r := range n.Status.Holders {
			parts = append(parts, fmt.Sprintf("held %s by pid %d (token %d)", r.Mode, r.PID, r.Token))
		}
		for _, r := range n.Status.Waiters {
			parts = append(parts, fmt.Sprintf("waiting %s by pid %d (token %d)", r.Mode, r.PID, r.Token))
		}
		line += "  [" + strings.Join(parts, "; ") + "]"
	}
	fmt.Fprintln(out, line)
	for _, c := range n.Children {
		printTree(out, c, indent+"  ")
	}
}
