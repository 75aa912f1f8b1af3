package main

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/locksmithx/locksmith/plugins/audit"
)

func auditCommand() *cobra.Command {
	c := &cobra.Command{Use: "audit", Short: "Work with the audit middleware's log"}
	c.AddCommand(&cobra.Command{
		Use:   "verify FILE",
		Short: "Check an audit log's hash chain, across its rotated files",
		Long: `Verify checks the audit log FILE with its rotated files (FILE.1, FILE.2, …)
and its head (FILE.head): every line must be unaltered and chained to the
one before, and the log must end where the head says. It names the first
line that was edited, removed or reordered, or the truncated end, and
exits 1; it exits 0 when the log is intact.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			sum, err := audit.Verify(args[0])
			if err != nil {
				return &exitError{code: exitFailure, err: fmt.Errorf("audit verify: %w", err)}
			}
			fmt.Fprintf(cmd.OutOrStdout(), "ok: %d lines in %d files, chain intact\n", sum.Lines, len(sum.Files))
			return nil
		},
	})
	return c
}
