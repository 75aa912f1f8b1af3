package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"sort"
	"strings"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/locksmithx/locksmith/host"
)

func topCommand(g *globals) *cobra.Command {
	var (
		server, token string
		interval      time.Duration
		iterations    int
	)
	c := &cobra.Command{
		Use:   "top",
		Short: "A live view of held and awaited locks, refreshed every second",
		Long: `Show every resource with holders or waiters, busiest first, refreshed every
--interval until interrupted (or for --iterations screens). With --server it
reads a locksmith server; otherwise a local host on the configured backend.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if interval < 100*time.Millisecond {
				return usageErr("--interval must be at least 100ms")
			}
			if iterations < 0 {
				return usageErr("--iterations must not be negative")
			}
			ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
			defer stop()
			var read func(ctx context.Context) (*host.TreeNode, error)
			where := ""
			if server != "" {
				r, err := newRemote(server, token)
				if err != nil {
					return err
				}
				where = r.base
				read = func(ctx context.Context) (*host.TreeNode, error) {
					var t host.TreeNode
					return &t, r.get(ctx, "/api/v1/tree", &t)
				}
				return runTop(ctx, cmd.OutOrStdout(), where, read, interval, iterations)
			}
			cfg, err := g.loadConfig(nil)
			if err != nil {
				return err
			}
			h, err := openHost(ctx, cfg, exitFailure)
			if err != nil {
				return err
			}
			defer h.Close()
			where = "backend " + cfg.Backend
			return runTop(ctx, cmd.OutOrStdout(), where, h.Tree, interval, iterations)
		},
	}
	serverFlags(c, &server, &token)
	c.Flags().DurationVar(&interval, "interval", time.Second, "time between screens")
	c.Flags().IntVar(&iterations, "iterations", 0, "stop after this many screens (0: until interrupted)")
	return c
}

// runTop draws a screen per interval. On a terminal each screen replaces
// the last; otherwise screens follow one another.
func runTop(ctx context.Context, out io.Writer, where string, read func(context.Context) (*host.TreeNode, error), interval time.Duration, iterations int) error {
	tty := isTerminal(out)
	for n := 1; ; n++ {
		rctx, cancel := context.WithTimeout(ctx, inspectTimeout)
		t, err := read(rctx)
		cancel()
		if ctx.Err() != nil {
			return nil
		}
		if tty {
			fmt.Fprint(out, "\x1b[H\x1b[2J")
		}
		drawTop(out, where, t, err, time.Now())
		if iterations > 0 && n >= iterations {
			return nil
		}
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(interval):
		}
	}
}

// drawTop prints one screen: a summary line, then one row per resource,
// those with the most waiters and the oldest holders first.
func drawTop(out io.Writer, where string, t *host.TreeNode, err error, now time.Time) {
	fmt.Fprintf(out, "locksmith top — %s — %s\n", where, now.Format("15:04:05"))
	if err != nil {
		fmt.Fprintf(out, "cannot read the locks: %v\n", err)
		return
	}
	var rows []host.ResourceStatus
	var walk func(n *host.TreeNode)
	walk = func(n *host.TreeNode) {
		if n.Status != nil {
			rows = append(rows, *n.Status)
		}
		for _, c := range n.Children {
			walk(c)
		}
	}
	walk(t)
	held, waiting := 0, 0
	for _, r := range rows {
		held += len(r.Holders)
		waiting += len(r.Waiters)
	}
	fmt.Fprintf(out, "%d resource(s), %d holder(s), %d waiter(s)\n\n", len(rows), held, waiting)
	if len(rows) == 0 {
		fmt.Fprintln(out, "no locks held or awaited")
		return
	}
	sort.SliceStable(rows, func(i, j int) bool {
		if len(rows[i].Waiters) != len(rows[j].Waiters) {
			return len(rows[i].Waiters) > len(rows[j].Waiters)
		}
		return oldest(rows[i].Holders) > oldest(rows[j].Holders)
	})
	tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "RESOURCE\tMODE\tHOLDERS\tHELD FOR\tTOKEN\tWAITERS\tLONGEST WAIT")
	for _, r := range rows {
		var modes, who []string
		var token int64
		for _, h := range r.Holders {
			modes = append(modes, h.Mode)
			who = append(who, fmt.Sprintf("pid %d@%s", h.PID, h.Host))
			token = max(token, h.Token)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%d\t%s\n", r.Resource, strings.Join(uniq(modes), ","), strings.Join(who, " "),
			orDash(humanDuration(oldest(r.Holders)), len(r.Holders) > 0), orDash(fmt.Sprint(token), token > 0),
			len(r.Waiters), orDash(humanDuration(oldest(r.Waiters)), len(r.Waiters) > 0))
	}
	_ = tw.Flush()
}

// oldest is the age of the longest-standing request.
func oldest(rs []host.Request) time.Duration {
	var d time.Duration
	for _, r := range rs {
		d = max(d, r.Age)
	}
	return d
}

func uniq(s []string) []string {
	var out []string
	seen := map[string]bool{}
	for _, v := range s {
		if !seen[v] {
			seen[v] = true
			out = append(out, v)
		}
	}
	return out
}

func orDash(s string, ok bool) string {
	if !ok {
		return "-"
	}
	return s
}

// isTerminal reports whether out is a character device (a terminal).
func isTerminal(out io.Writer) bool {
	f, ok := out.(*os.File)
	if !ok {
		return false
	}
	st, err := f.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0
}
