package server

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/locksmithx/locksmith/host"
)

// writeJSON answers with status and v as JSON.
func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	_ = enc.Encode(v)
}

// writeBad answers a refused request.
func writeBad(w http.ResponseWriter, err error) {
	var br *badRequest
	if errors.As(err, &br) {
		status := http.StatusBadRequest
		switch br.code {
		case codeTooLarge:
			status = http.StatusRequestEntityTooLarge
		case codeUnsupportedMedia:
			status = http.StatusUnsupportedMediaType
		}
		writeError(w, status, br.code, br.msg)
		return
	}
	writeHostError(w, err)
}

// acquire: POST /api/v1/leases.
func (s *Server) acquire(w http.ResponseWriter, r *http.Request) {
	body, err := readBody(w, r, s.cfg.MaxBody)
	if err != nil {
		writeBad(w, err)
		return
	}
	sp, err := parseAcquire(body, s.cfg.MaxWait, s.cfg.LeaseTTL)
	if err != nil {
		writeBad(w, err)
		return
	}
	opts := []host.LockOption{host.WithMode(sp.mode), host.WithLimit(sp.limit)}
	for k, v := range sp.meta {
		opts = append(opts, host.WithMeta(k, v))
	}
	// The request's context ends when the client goes away: a waiting
	// acquire is then withdrawn.
	ctx := r.Context()
	if sp.wait > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, sp.wait)
		defer cancel()
	} else {
		opts = append(opts, host.NoWait())
	}
	l, err := s.h.Acquire(ctx, sp.resource, opts...)
	if err != nil {
		writeHostError(w, err)
		return
	}
	if r.Context().Err() != nil {
		// Granted as the client left: nobody would ever release it.
		_ = l.Release(context.Background())
		return
	}
	writeJSON(w, http.StatusCreated, s.leases.add(l, principalOf(r), sp.ttl))
}

// leaseInfo: GET /api/v1/leases/{id}.
func (s *Server) leaseInfo(w http.ResponseWriter, r *http.Request) {
	hl, ok := s.leases.view(r.PathValue("id"), principalOf(r))
	if !ok {
		writeError(w, http.StatusNotFound, codeNotHeld, "no lease "+r.PathValue("id"))
		return
	}
	writeJSON(w, http.StatusOK, hl)
}

// listLeases: GET /api/v1/leases — the caller's live leases.
func (s *Server) listLeases(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, map[string]any{"leases": s.leases.list(principalOf(r), false)})
}

// renew: POST /api/v1/leases/{id}/renew.
func (s *Server) renew(w http.ResponseWriter, r *http.Request) {
	hl, err := s.leases.renew(r.PathValue("id"), principalOf(r))
	if err != nil {
		writeHostError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, hl)
}

// convert: POST /api/v1/leases/{id}/convert.
func (s *Server) convert(w http.ResponseWriter, r *http.Request) {
	body, err := readBody(w, r, s.cfg.MaxBody)
	if err != nil {
		writeBad(w, err)
		return
	}
	mode, wait, err := parseConvert(body, s.cfg.MaxWait)
	if err != nil {
		writeBad(w, err)
		return
	}
	id, p := r.PathValue("id"), principalOf(r)
	l, err := s.leases.lease(id, p)
	if err != nil {
		writeHostError(w, err)
		return
	}
	ctx := r.Context()
	if wait > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, wait)
		defer cancel()
	}
	if err := l.Convert(ctx, mode); err != nil {
		writeHostError(w, err)
		return
	}
	hl, _ := s.leases.view(id, p)
	writeJSON(w, http.StatusOK, hl)
}

// release: DELETE /api/v1/leases/{id}.
func (s *Server) release(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), 10*time.Second)
	defer cancel()
	hl, err := s.leases.release(ctx, r.PathValue("id"), principalOf(r))
	if err != nil {
		writeHostError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, hl)
}

// listLocks: GET /api/v1/locks — every resource with holders or waiters.
func (s *Server) listLocks(w http.ResponseWriter, r *http.Request) {
	tree, err := s.h.Tree(r.Context())
	if err != nil {
		writeHostError(w, err)
		return
	}
	out := []host.ResourceStatus{}
	var walk func(n *host.TreeNode)
	walk = func(n *host.TreeNode) {
		if n.Status != nil {
			out = append(out, *n.Status)
		}
		for _, c := range n.Children {
			walk(c)
		}
	}
	walk(tree)
	writeJSON(w, http.StatusOK, map[string]any{"locks": out})
}

// inspectLock: GET /api/v1/locks/{resource...} — one resource's queue.
// The resource is a name, or a file path with its leading "/" escaped
// as %2F (or given as ?kind=file).
func (s *Server) inspectLock(w http.ResponseWriter, r *http.Request) {
	key, err := resourceKey(r.PathValue("resource"), r.URL.Query().Get("kind"))
	if err != nil {
		writeBad(w, err)
		return
	}
	st, err := s.h.Status(r.Context(), key)
	if err != nil {
		writeHostError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, st)
}

// tree: GET /api/v1/tree.
func (s *Server) tree(w http.ResponseWriter, r *http.Request) {
	tree, err := s.h.Tree(r.Context())
	if err != nil {
		writeHostError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, tree)
}

// health: GET /api/v1/health. 200 when healthy, 503 otherwise; the body
// says what is wrong either way.
func (s *Server) health(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), 10*time.Second)
	defer cancel()
	h := s.h.Health(ctx)
	status := http.StatusOK
	if !h.OK {
		status = http.StatusServiceUnavailable
	}
	writeJSON(w, status, map[string]any{
		"status": map[bool]string{true: "ok", false: "degraded"}[h.OK],
		"uptime": duration(time.Since(s.started).Round(time.Second)),
		"leases": len(s.leases.list("", true)),
		"host":   h,
	})
}

// metricsJSON: GET /api/v1/metrics — the host's counters and percentiles.
func (s *Server) metricsJSON(w http.ResponseWriter, r *http.Request) {
	m := s.h.Metrics()
	writeJSON(w, http.StatusOK, map[string]any{
		"active": m.Active, "acquisitions": m.Acquisitions, "failures": m.Failures,
		"conflicts": m.Conflicts, "timeouts": m.Timeouts, "deadlocks": m.Deadlocks,
		"conversions": m.Conversions, "releases": m.Releases, "lost": m.LostLeases,
		"success_rate": m.SuccessRate, "dropped_events": m.DroppedEvents,
		"wait": percentilesJSON(m.Wait), "hold": percentilesJSON(m.Hold),
		"http_leases": len(s.leases.list("", true)),
	})
}

func percentilesJSON(p host.Percentiles) map[string]any {
	return map[string]any{"count": p.Count, "p50_ms": ms(p.P50), "p90_ms": ms(p.P90), "p99_ms": ms(p.P99), "max_ms": ms(p.Max)}
}

// events: GET /api/v1/events — Server-Sent Events, one per lock event,
// "event: <kind>" with the JSON Event as data. A client resumes with the
// Last-Event-ID header (or ?since=ID; since=0 replays what is retained).
func (s *Server) events(w http.ResponseWriter, r *http.Request) {
	since := int64(-1)
	if v := r.Header.Get("Last-Event-ID"); v != "" {
		since, _ = strconv.ParseInt(v, 10, 64)
	}
	if v := r.URL.Query().Get("since"); v != "" {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil || n < 0 {
			writeError(w, http.StatusBadRequest, codeInvalidArgument, "since: not a non-negative event id")
			return
		}
		since = n
	}
	rc := http.NewResponseController(w)
	_ = rc.SetWriteDeadline(time.Time{})
	sub, replay := s.feed.subscribe(since)
	defer s.feed.unsubscribe(sub)
	w.Header().Set("Content-Type", "text/event-stream")
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("X-Accel-Buffering", "no")
	w.WriteHeader(http.StatusOK)
	send := func(ev Event) bool {
		data, _ := json.Marshal(ev)
		var b strings.Builder
		b.WriteString("id: " + strconv.FormatInt(ev.ID, 10) + "\nevent: " + ev.Kind + "\ndata: ")
		b.Write(data)
		b.WriteString("\n\n")
		if _, err := w.Write([]byte(b.String())); err != nil {
			return false
		}
		return rc.Flush() == nil
	}
	// A comment at once tells the client the stream is open.
	if _, err := w.Write([]byte(": locksmith events\n\n")); err != nil || rc.Flush() != nil {
		return
	}
	for _, ev := range replay {
		if !send(ev) {
			return
		}
	}
	keep := time.NewTicker(15 * time.Second)
	defer keep.Stop()
	for {
		select {
		case ev := <-sub.ch:
			if !send(ev) {
				return
			}
		case <-keep.C:
			if _, err := w.Write([]byte(": keep-alive\n\n")); err != nil || rc.Flush() != nil {
				return
			}
		case <-sub.gone:
			return
		case <-r.Context().Done():
			return
		}
	}
}

// repairRequest is the body of POST /api/v1/repair.
type repairRequest struct {
	Resource string `json:"resource"`
	Kind     string `json:"kind,omitempty"`
}

// check: GET /api/v1/check[?resource=R] — what the backend finds wrong in
// its stored state, of one resource or of all.
func (s *Server) check(w http.ResponseWriter, r *http.Request) {
	key := ""
	if res := r.URL.Query().Get("resource"); res != "" {
		var err error
		if key, err = resourceKey(res, r.URL.Query().Get("kind")); err != nil {
			writeBad(w, err)
			return
		}
	}
	probs, err := s.h.Check(r.Context(), key)
	if err != nil {
		writeHostError(w, err)
		return
	}
	if probs == nil {
		probs = []host.Problem{}
	}
	writeJSON(w, http.StatusOK, map[string]any{"problems": probs})
}

// repair: POST /api/v1/repair — fix what Check finds for one resource and
// report what changed.
func (s *Server) repair(w http.ResponseWriter, r *http.Request) {
	body, err := readBody(w, r, s.cfg.MaxBody)
	if err != nil {
		writeBad(w, err)
		return
	}
	var req repairRequest
	if err := decodeStrict(body, &req); err != nil {
		writeBad(w, err)
		return
	}
	if req.Resource == "" {
		writeBad(w, invalid("resource: required (repair works one resource at a time)"))
		return
	}
	key, err := resourceKey(req.Resource, req.Kind)
	if err != nil {
		writeBad(w, err)
		return
	}
	probs, err := s.h.Repair(r.Context(), key)
	if err != nil {
		writeHostError(w, err)
		return
	}
	if probs == nil {
		probs = []host.Problem{}
	}
	writeJSON(w, http.StatusOK, map[string]any{"resource": key, "repaired": probs})
}
