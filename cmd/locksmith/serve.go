package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/locksmithx/locksmith/server"
)

// shutdownTimeout bounds a graceful shutdown: requests in flight, then the
// release of every lease HTTP clients hold.
const shutdownTimeout = 15 * time.Second

func serveCommand(g *globals) *cobra.Command {
	var listen, agentSock string
	c := &cobra.Command{
		Use:   "serve",
		Short: "Run a lock server: REST API, event stream, Prometheus metrics and web dashboard",
		Long: `Run a host as a long-lived server. It answers the REST API under /api/v1
(OpenAPI 3 at /api/v1/openapi.json), Server-Sent Events at /api/v1/events,
Prometheus metrics at /metrics and a live dashboard at /.

Configure it under server: in the config file (listen, tokens, rate_limit,
burst, cors, max_body, lease_ttl, max_wait). The default listen address is
loopback. SIGTERM or SIGINT shut it down gracefully, releasing the leases
HTTP clients hold.

With --agent-socket PATH it also serves ` + "`locksmith exec`" + ` on a unix socket
(this user only): an exec run with LOCKSMITH_SERVER=unix://PATH asks this
server for its lock instead of starting a host and a plugin of its own,
and its connection is its session.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			overrides := map[string]any{}
			if listen != "" {
				overrides["server.listen"] = listen
			}
			return runServe(g, overrides, agentSock)
		},
	}
	c.Flags().StringVar(&listen, "listen", "", "address to serve on (default server.listen, 127.0.0.1:7700)")
	c.Flags().StringVar(&agentSock, "agent-socket", "", "also serve locksmith exec on this unix socket (exec with LOCKSMITH_SERVER=unix://PATH)")
	return c
}

func runServe(g *globals, overrides map[string]any, agentSock string) error {
	cfg, err := g.loadConfig(overrides)
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", cfg.Server.Listen)
	if err != nil {
		return &exitError{code: exitUsage, err: fmt.Errorf("listen on %s: %w", cfg.Server.Listen, err)}
	}
	defer ln.Close()
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	h, err := openHost(ctx, cfg, exitFailure)
	if err != nil {
		return err
	}
	defer h.Close()
	log := newLogger(cfg.Log.Level).Named("server")
	if host, _, _ := net.SplitHostPort(cfg.Server.Listen); len(cfg.Server.Tokens) == 0 && !isLoopback(host) {
		log.Warn("serving beyond loopback without server.tokens: anyone who reaches it can take and release locks", "listen", cfg.Server.Listen)
	}
	srv := server.New(h, cfg.Server, log)
	if agentSock != "" {
		stopAgent, err := startAgent(agentSock, h, cfg.Lease.TTL, log.Named("agent"))
		if err != nil {
			return &exitError{code: exitUsage, err: err}
		}
		defer stopAgent()
		fmt.Fprintf(os.Stderr, "locksmith: serving exec on unix://%s\n", agentSock)
	}
	fmt.Fprintf(os.Stderr, "locksmith: serving on http://%s (backend %s); dashboard at /, API at /api/v1\n", ln.Addr(), cfg.Backend)
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		if !errors.Is(err, http.ErrServerClosed) {
			return fmt.Errorf("serve: %w", err)
		}
		return nil
	case <-ctx.Done():
	}
	fmt.Fprintln(os.Stderr, "locksmith: shutting down; releasing HTTP clients' leases")
	sctx, cancel := context.WithTimeout(context.Background(), shutdownTimeout)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil {
		return fmt.Errorf("shut down: %w", err)
	}
	return nil
}

// isLoopback reports whether host (of a listen address) is loopback only.
func isLoopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}
