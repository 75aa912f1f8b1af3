package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/signal"
	"reflect"
	"strings"
	"syscall"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/spf13/cobra"

	"github.com/locksmithx/locksmith/config"
	"github.com/locksmithx/locksmith/host"
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
and its connection is its session.

SIGHUP, or a change to the --config file, reloads the config: the new
backends and middleware are started and checked beside the running ones
and swapped in only if all is well (a bad config changes nothing and the
log says why). Leases already held stay on the backend that granted them.
The server: section is read once, at start.`,
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
	// SIGHUP reloads from now on, rather than end the process.
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	go reloadLoop(ctx, g, overrides, h, cfg, hup, log)
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

// reloadTimeout bounds one config reload: starting and checking plugins.
const reloadTimeout = 60 * time.Second

// reloadLoop reloads the config on SIGHUP and whenever the config file
// changes, until ctx ends. Reloads run one at a time.
func reloadLoop(ctx context.Context, g *globals, overrides map[string]any, h *host.Host, running config.Config, hup <-chan os.Signal, log hclog.Logger) {
	why := make(chan string, 1)
	ask := func(reason string) {
		select {
		case why <- reason:
		default: // a reload is already due; it reads the latest file
		}
	}
	if g.configFile != "" {
		go func() {
			err := config.Watch(ctx, g.configFile, func() { ask("config file changed") })
			if err != nil && ctx.Err() == nil {
				log.Error("config file not watched; reload with SIGHUP", "error", err)
			}
		}()
	}
	for {
		var reason string
		select {
		case <-ctx.Done():
			return
		case <-hup:
			reason = "SIGHUP"
		case reason = <-why:
		}
		cfg, err := g.loadConfig(overrides)
		if err != nil {
			log.Error("config reload refused; the running config stays", "cause", reason, "error", err)
			continue
		}
		rctx, cancel := context.WithTimeout(ctx, reloadTimeout)
		err = h.UpdateConfig(rctx, cfg)
		cancel()
		if err != nil {
			log.Error("config reload refused; the running config stays", "cause", reason, "error", err)
			continue
		}
		if !reflect.DeepEqual(cfg.Server, running.Server) {
			log.Warn("the server: section changed; it applies at the next start", "cause", reason)
		}
		from := ""
		if cfg.MigrateFrom != "" {
			from = " (migrating from " + cfg.MigrateFrom + ")"
		}
		fmt.Fprintf(os.Stderr, "locksmith: config reloaded (%s): backend %s%s; running %s\n", reason, cfg.Backend, from,
			strings.Join(cfg.Running(), ", "))
	}
}

// isLoopback reports whether host (of a listen address) is loopback only.
func isLoopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}
