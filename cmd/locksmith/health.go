package main

import (
	"context"
	"fmt"
	"io"
	"time"

	"github.com/spf13/cobra"

	"github.com/locksmithx/locksmith/host"
)

func healthCommand(g *globals) *cobra.Command {
	var (
		asJSON        bool
		server, token string
	)
	c := &cobra.Command{
		Use:   "health",
		Short: "Check the backend: plugin liveness and version, round trip, session, stored state",
		Long: `Report the backend plugin's liveness, version and round-trip time, the
session, and any problem the backend finds in its stored state (the file
backend checks every state file). Exit 0 when healthy, 1 when not.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			var h host.Health
			if server != "" {
				r, err := newRemote(server, token)
				if err != nil {
					return err
				}
				ctx, cancel := context.WithTimeout(context.Background(), inspectTimeout)
				defer cancel()
				var body struct {
					Host host.Health `json:"host"`
				}
				if err := r.get(ctx, "/api/v1/health", &body); err != nil {
					return err
				}
				h = body.Host
			} else if err := withHost(g, func(ctx context.Context, hst *host.Host) error {
				h = hst.Health(ctx)
				return nil
			}); err != nil {
				return err
			}
			if err := printHealth(cmd.OutOrStdout(), h, asJSON); err != nil {
				return err
			}
			if !h.OK {
				return &exitError{code: exitFailure}
			}
			return nil
		},
	}
	c.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	serverFlags(c, &server, &token)
	return c
}

func printHealth(out io.Writer, h host.Health, asJSON bool) error {
	if asJSON {
		return writeJSON(out, h)
	}
	printBackendHealth(out, "backend", h.Backend)
	// The other backends the host runs (backends:, a migration's source,
	// one draining after a config swap), each on a line of its own.
	for _, b := range h.Backends {
		if b.Name == h.Backend.Name && b.Role == h.Backend.Role {
			continue
		}
		printBackendHealth(out, "also backend", b)
		fmt.Fprintf(out, "  role %s, %d lease(s)\n", b.Role, b.Leases)
	}
	if h.Session != nil {
		fmt.Fprintf(out, "session %s, ttl %s, %d lease(s)\n", h.Session.ID, humanDuration(h.Session.TTL.Round(time.Millisecond)), h.Leases)
	}
	switch {
	case h.CheckError != "":
		fmt.Fprintf(out, "stored state not checked: %s\n", h.CheckError)
	case len(h.Problems) == 0:
		fmt.Fprintln(out, "stored state: no problem found")
	default:
		fmt.Fprintf(out, "stored state: %d problem(s)\n", len(h.Problems))
		for _, p := range h.Problems {
			fmt.Fprintf(out, "  %s: %s\n", p.Resource, p.Message)
		}
		fmt.Fprintln(out, "run: locksmith repair RESOURCE")
	}
	if h.OK {
		fmt.Fprintln(out, "ok")
	}
	return nil
}

// printBackendHealth prints one backend's plugin: name, version, state,
// and its pid, protocol and round trip while it runs.
func printBackendHealth(out io.Writer, label string, b host.PluginHealth) {
	state := "healthy"
	switch {
	case !b.Alive:
		state = "down"
	case !b.Healthy:
		state = "unhealthy"
	}
	fmt.Fprintf(out, "%s %s %s: %s", label, b.Name, b.Version, state)
	if b.Alive {
		fmt.Fprintf(out, " (pid %d, protocol %d, round trip %s)", b.PID, b.Protocol, humanDuration(b.RTT))
	}
	fmt.Fprintln(out)
	if b.Error != "" {
		fmt.Fprintf(out, "  %s\n", b.Error)
	}
}
