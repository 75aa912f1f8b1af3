package server

import (
	"context"
	"crypto/subtle"
	"fmt"
	"net"
	"net/http"
	"runtime/debug"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/locksmithx/locksmith/host"
)

// route is one API route: its ServeMux pattern and handler. The OpenAPI
// document is checked against this table.
type route struct {
	method, path string
	handler      http.HandlerFunc
}

// apiRoutes lists every API route.
func (s *Server) apiRoutes() []route {
	return []route{
		{"GET", "/api/v1/locks", s.listLocks},
		{"GET", "/api/v1/locks/{resource...}", s.inspectLock},
		{"GET", "/api/v1/leases", s.listLeases},
		{"POST", "/api/v1/leases", s.acquire},
		{"GET", "/api/v1/leases/{id}", s.leaseInfo},
		{"DELETE", "/api/v1/leases/{id}", s.release},
		{"POST", "/api/v1/leases/{id}/renew", s.renew},
		{"POST", "/api/v1/leases/{id}/convert", s.convert},
		{"GET", "/api/v1/tree", s.tree},
		{"GET", "/api/v1/health", s.health},
		{"GET", "/api/v1/check", s.check},
		{"POST", "/api/v1/repair", s.repair},
		{"GET", "/api/v1/metrics", s.metricsJSON},
		{"GET", "/api/v1/events", s.events},
		{"GET", "/api/v1/openapi.json", s.openAPI},
		// The first API's paths, for clients written against it.
		{"GET", "/api/health", s.health},
		{"GET", "/api/metrics", s.metricsJSON},
	}
}

func (s *Server) routes() http.Handler {
	api := http.NewServeMux()
	for _, rt := range s.apiRoutes() {
		api.HandleFunc(rt.method+" "+rt.path, rt.handler)
	}
	api.Handle("GET /metrics", promhttp.HandlerFor(s.metrics.registry, promhttp.HandlerOpts{}))
	api.HandleFunc("/api/", func(w http.ResponseWriter, r *http.Request) {
		// The catch-all matches every method: tell a wrong method from a
		// wrong path by asking the mux about the others.
		var allowed []string
		for _, m := range []string{"GET", "POST", "DELETE"} {
			probe := r.Clone(r.Context())
			probe.Method = m
			if _, pattern := api.Handler(probe); pattern != "/api/" && pattern != "" {
				allowed = append(allowed, m)
			}
		}
		if len(allowed) > 0 {
			w.Header().Set("Allow", strings.Join(allowed, ", "))
			writeError(w, http.StatusMethodNotAllowed, codeMethod, "method "+r.Method+" not allowed; allowed: "+strings.Join(allowed, ", "))
			return
		}
		writeError(w, http.StatusNotFound, codeNotFound, "no route "+r.Method+" "+r.URL.Path)
	})
	guarded := s.authenticate(s.rateLimit(api))

	mux := http.NewServeMux()
	mux.Handle("/api/", guarded)
	mux.Handle("GET /metrics", guarded)
	mux.Handle("/", dashboard())
	return s.recoverPanics(s.cors(mux))
}

type principalKey struct{}

// principalOf is the principal a request authenticated as; "" when the
// server has no tokens configured.
func principalOf(r *http.Request) string {
	p, _ := r.Context().Value(principalKey{}).(string)
	return p
}

// authenticate requires a configured bearer token once any is configured.
// EventSource cannot send headers, so the event stream also takes the
// token as ?access_token=.
func (s *Server) authenticate(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if len(s.tokens) == 0 {
			next.ServeHTTP(w, r)
			return
		}
		tok, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
		if !ok && r.URL.Path == "/api/v1/events" {
			tok, ok = r.URL.Query().Get("access_token"), true
		}
		principal := ""
		if ok && tok != "" {
			for t, p := range s.tokens {
				if subtle.ConstantTimeCompare([]byte(t), []byte(tok)) == 1 {
					principal = p
				}
			}
		}
		if principal == "" {
			w.Header().Set("WWW-Authenticate", `Bearer realm="locksmith"`)
			writeError(w, http.StatusUnauthorized, codeUnauthorized, "a valid bearer token is required (Authorization: Bearer TOKEN)")
			return
		}
		// The host's middleware (RBAC, audit) sees the token's principal.
		ctx := host.WithPrincipal(context.WithValue(r.Context(), principalKey{}, principal), principal)
		next.ServeHTTP(w, r.WithContext(ctx))
	})
}

// rateLimit answers 429 with Retry-After once a principal (or, without
// tokens, a remote address) goes over its rate.
func (s *Server) rateLimit(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		who := principalOf(r)
		if who == "" {
			who = "addr:" + remoteHost(r)
		}
		if wait, ok := s.limits.allow(who); !ok {
			w.Header().Set("Retry-After", strconv.Itoa(int(wait.Round(time.Second)/time.Second)+1))
			writeError(w, http.StatusTooManyRequests, codeRateLimited,
				fmt.Sprintf("over the rate limit of %g requests/s; retry in %s", s.cfg.RateLimit, wait.Round(time.Millisecond)))
			return
		}
		next.ServeHTTP(w, r)
	})
}

func remoteHost(r *http.Request) string {
	h, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return h
}

// cors answers preflights and marks responses for the configured origins.
// With no origins configured it adds nothing, and browsers keep other
// origins out.
func (s *Server) cors(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		origin := r.Header.Get("Origin")
		allowed := origin != "" && (slices.Contains(s.cfg.CORS, "*") || slices.Contains(s.cfg.CORS, origin))
		if allowed {
			w.Header().Set("Access-Control-Allow-Origin", origin)
			w.Header().Add("Vary", "Origin")
			w.Header().Set("Access-Control-Expose-Headers", "Retry-After")
		}
		if r.Method == http.MethodOptions && r.Header.Get("Access-Control-Request-Method") != "" {
			if !allowed {
				writeError(w, http.StatusForbidden, "cors", fmt.Sprintf("origin %.100q may not call this API (server.cors)", origin))
				return
			}
			w.Header().Set("Access-Control-Allow-Methods", "GET, POST, DELETE, OPTIONS")
			w.Header().Set("Access-Control-Allow-Headers", "Authorization, Content-Type, Last-Event-ID")
			w.Header().Set("Access-Control-Max-Age", "600")
			w.WriteHeader(http.StatusNoContent)
			return
		}
		next.ServeHTTP(w, r)
	})
}

// recoverPanics answers 500 for a handler that panicked, and logs it,
// rather than dropping the connection.
func (s *Server) recoverPanics(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		defer func() {
			if v := recover(); v != nil {
				if v == http.ErrAbortHandler {
					panic(v)
				}
				s.log.Error("handler panicked", "method", r.Method, "path", r.URL.Path, "panic", v, "stack", string(debug.Stack()))
				writeError(w, http.StatusInternalServerError, codeInternal, "internal error")
			}
		}()
		next.ServeHTTP(w, r)
	})
}
