// Package server serves a host over HTTP: a REST API under /api/v1 to take,
// renew, convert and release locks and to see who holds what, an event
// stream (Server-Sent Events), Prometheus metrics at /metrics, an OpenAPI 3
// document of the API, and a live web dashboard at /.
//
// An HTTP client's leases live on the server's host session; each expires
// unless the client renews it within its TTL, and is then released and
// reported lost. Bearer tokens map to principals, requests are rate limited
// per principal, bodies are bounded, and Shutdown releases every lease the
// server holds.
package server

import (
	"context"
	"errors"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/locksmithx/locksmith/config"
	"github.com/locksmithx/locksmith/host"
)

// Server is the HTTP face of one host. It is safe for concurrent use.
type Server struct {
	h   *host.Host
	cfg config.Server
	log hclog.Logger

	leases  *leaseTable
	feed    *feed
	metrics *metrics
	limits  *limiter
	tokens  map[string]string // bearer token -> principal
	started time.Time

	handler http.Handler

	mu      sync.Mutex
	httpSrv *http.Server
	closed  bool
}

// New builds a server for h with cfg (validated by config.Config.Validate).
// It starts following h's events at once; Shutdown stops it.
func New(h *host.Host, cfg config.Server, log hclog.Logger) *Server {
	if log == nil {
		log = hclog.NewNullLogger()
	}
	s := &Server{h: h, cfg: cfg, log: log, started: time.Now(), tokens: map[string]string{}}
	for _, t := range cfg.Tokens {
		s.tokens[t.Token] = t.Principal
	}
	s.metrics = newMetrics(h)
	s.feed = newFeed(h, s.metrics, log.Named("events"))
	s.leases = newLeaseTable(s.feed)
	s.limits = newLimiter(cfg.RateLimit, cfg.Burst)
	s.handler = s.routes()
	return s
}

// Handler is the server's whole HTTP surface: API, metrics and dashboard.
func (s *Server) Handler() http.Handler { return s.handler }

// Serve answers HTTP requests on ln until Shutdown. It returns
// http.ErrServerClosed after a Shutdown.
func (s *Server) Serve(ln net.Listener) error {
	srv := &http.Server{
		Handler:           s.handler,
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       30 * time.Second,
		// A waiting acquire holds its response for up to max_wait; event
		// streams clear their own deadline.
		WriteTimeout:   s.cfg.MaxWait + 30*time.Second,
		IdleTimeout:    2 * time.Minute,
		MaxHeaderBytes: 64 << 10,
		ErrorLog:       s.log.StandardLogger(&hclog.StandardLoggerOptions{InferLevels: true}),
	}
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return http.ErrServerClosed
	}
	s.httpSrv = srv
	s.mu.Unlock()
	return srv.Serve(ln)
}

// Shutdown stops accepting requests, waits (within ctx) for the ones in
// flight, ends the event streams and releases every lease HTTP clients
// still hold. It can safely be called more than once.
func (s *Server) Shutdown(ctx context.Context) error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	srv := s.httpSrv
	s.mu.Unlock()
	s.feed.close()
	var errs []error
	if srv != nil {
		if err := srv.Shutdown(ctx); err != nil {
			errs = append(errs, err)
		}
	}
	if err := s.leases.releaseAll(ctx); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}
