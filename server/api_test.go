package server

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/locksmithx/locksmith/config"
	"github.com/locksmithx/locksmith/host"
)

func TestAcquireInspectRenewRelease(t *testing.T) {
	e := newEnv(t, nil)
	l := e.acquire(`{"resource":"jobs/a","mode":"shared","metadata":{"purpose":"nightly"}}`)
	if l.ID == "" || l.Token <= 0 || l.State != stateHeld || l.Mode != "shared" || l.Resource != "jobs/a" {
		t.Fatalf("lease = %+v", l)
	}

	var st host.ResourceStatus
	r := e.do("GET", "/api/v1/locks/jobs/a", "")
	if r.status != http.StatusOK {
		t.Fatalf("inspect: %d %s", r.status, r.body)
	}
	r.json(t, &st)
	if len(st.Holders) != 1 || st.Holders[0].Token != l.Token || st.Holders[0].Meta["purpose"] != "nightly" {
		t.Fatalf("status = %+v", st)
	}
	var list struct{ Locks []host.ResourceStatus }
	e.do("GET", "/api/v1/locks", "").json(t, &list)
	if len(list.Locks) != 1 || list.Locks[0].Resource != "jobs/a" {
		t.Fatalf("locks = %+v", list.Locks)
	}
	var tree host.TreeNode
	e.do("GET", "/api/v1/tree", "").json(t, &tree)
	if len(tree.Children) != 1 || tree.Children[0].Name != "jobs" || tree.Children[0].Children[0].Status == nil {
		t.Fatalf("tree = %+v", tree)
	}

	time.Sleep(5 * time.Millisecond)
	var renewed httpLease
	r = e.do("POST", "/api/v1/leases/"+l.ID+"/renew", "")
	if r.status != http.StatusOK {
		t.Fatalf("renew: %d %s", r.status, r.body)
	}
	r.json(t, &renewed)
	if !renewed.Expires.After(l.Expires) {
		t.Fatalf("renew did not move the expiry: %v -> %v", l.Expires, renewed.Expires)
	}

	var conv httpLease
	r = e.do("POST", "/api/v1/leases/"+l.ID+"/convert", `{"mode":"exclusive","wait":"2s"}`)
	if r.status != http.StatusOK {
		t.Fatalf("convert: %d %s", r.status, r.body)
	}
	r.json(t, &conv)
	if conv.Mode != "exclusive" || conv.Token != l.Token {
		t.Fatalf("converted lease = %+v", conv)
	}

	var mine struct{ Leases []httpLease }
	e.do("GET", "/api/v1/leases", "").json(t, &mine)
	if len(mine.Leases) != 1 || mine.Leases[0].ID != l.ID {
		t.Fatalf("leases = %+v", mine.Leases)
	}

	r = e.do("DELETE", "/api/v1/leases/"+l.ID, "")
	if r.status != http.StatusOK {
		t.Fatalf("release: %d %s", r.status, r.body)
	}
	var got httpLease
	e.do("GET", "/api/v1/leases/"+l.ID, "").json(t, &got)
	if got.State != stateReleased {
		t.Fatalf("after release: %+v", got)
	}
	if r := e.do("DELETE", "/api/v1/leases/"+l.ID, ""); r.status != http.StatusNotFound || r.code(t) != codeNotHeld {
		t.Fatalf("second release: %d %s", r.status, r.body)
	}
	if r := e.do("POST", "/api/v1/leases/"+l.ID+"/renew", ""); r.status != http.StatusNotFound || r.code(t) != codeNotHeld {
		t.Fatalf("renew after release: %d %s", r.status, r.body)
	}
	e.do("GET", "/api/v1/locks/jobs/a", "").json(t, &st)
	if len(st.Holders)+len(st.Waiters) != 0 {
		t.Fatalf("still held after release: %+v", st)
	}
}

func TestFileLockOverHTTP(t *testing.T) {
	e := newEnv(t, nil)
	path := e.dir + "/data.db"
	l := e.acquire(fmt.Sprintf(`{"resource":%q}`, path))
	if l.Resource != path {
		t.Fatalf("resource = %q, want %q", l.Resource, path)
	}
	other := e.otherHost()
	if _, err := other.TryLock(context.Background(), path); err == nil {
		t.Fatal("another host took a file lock the server holds")
	}
	var st host.ResourceStatus
	r := e.do("GET", "/api/v1/locks/"+url.PathEscape(path), "")
	r.json(t, &st)
	if r.status != http.StatusOK || len(st.Holders) != 1 {
		t.Fatalf("inspect file lock: %d %s", r.status, r.body)
	}
	if r := e.do("POST", "/api/v1/leases", `{"resource":"relative/x","kind":"file"}`); r.status != http.StatusBadRequest || r.code(t) != codeInvalidArgument {
		t.Fatalf("relative file path: %d %s", r.status, r.body)
	}
}

func TestConflictTimeoutAndWait(t *testing.T) {
	e := newEnv(t, nil)
	a := e.acquire(`{"resource":"r"}`)
	if r := e.do("POST", "/api/v1/leases", `{"resource":"r"}`); r.status != http.StatusConflict || r.code(t) != codeConflict {
		t.Fatalf("no-wait acquire of a held lock: %d %s", r.status, r.body)
	}
	if r := e.do("POST", "/api/v1/leases", `{"resource":"r","wait":"150ms"}`); r.status != http.StatusConflict || r.code(t) != codeTimeout {
		t.Fatalf("timed-out acquire: %d %s", r.status, r.body)
	}
	got := make(chan response, 1)
	go func() { got <- e.do("POST", "/api/v1/leases", `{"resource":"r","wait":"20s"}`) }()
	eventually(t, "the waiter to queue", func() bool {
		var st host.ResourceStatus
		e.do("GET", "/api/v1/locks/r", "").json(t, &st)
		return len(st.Waiters) == 1
	})
	select {
	case r := <-got:
		t.Fatalf("the waiter was answered while the lock was held: %d %s", r.status, r.body)
	default:
	}
	e.do("DELETE", "/api/v1/leases/"+a.ID, "")
	r := <-got
	if r.status != http.StatusCreated {
		t.Fatalf("waiter: %d %s", r.status, r.body)
	}
	var b httpLease
	r.json(t, &b)
	if b.Token <= a.Token {
		t.Fatalf("fencing token went from %d to %d", a.Token, b.Token)
	}
}

func TestDisconnectedWaiterWithdraws(t *testing.T) {
	e := newEnv(t, nil)
	e.acquire(`{"resource":"r"}`)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		e.doCtx(ctx, "POST", "/api/v1/leases", `{"resource":"r","wait":"1m"}`)
	}()
	waiters := func() int {
		var st host.ResourceStatus
		e.do("GET", "/api/v1/locks/r", "").json(t, &st)
		return len(st.Waiters)
	}
	eventually(t, "the waiter to queue", func() bool { return waiters() == 1 })
	cancel()
	<-done
	eventually(t, "the waiter to leave the queue", func() bool { return waiters() == 0 })
}

func TestUnrenewedLeaseIsLost(t *testing.T) {
	e := newEnv(t, nil)
	events := e.subscribe("")
	l := e.acquire(`{"resource":"r","ttl":"1s"}`)
	ev := events.next(t, func(ev Event) bool { return ev.Kind == "lost" && ev.LeaseID == l.ID })
	if ev.Token != l.Token || !strings.Contains(ev.Error, "not renewed") {
		t.Fatalf("lost event = %+v", ev)
	}
	r := e.do("POST", "/api/v1/leases/"+l.ID+"/renew", "")
	if r.status != http.StatusGone || r.code(t) != codeLost {
		t.Fatalf("renew of an expired lease: %d %s", r.status, r.body)
	}
	var got httpLease
	e.do("GET", "/api/v1/leases/"+l.ID, "").json(t, &got)
	if got.State != stateLost || !strings.Contains(got.Error, "not renewed") {
		t.Fatalf("expired lease = %+v", got)
	}
	// The lock went back: another client gets it (the event is sent as the
	// server releases the lease).
	e.acquire(`{"resource":"r","wait":"5s"}`)
}

func TestRenewedLeaseOutlivesItsTTL(t *testing.T) {
	e := newEnv(t, nil)
	l := e.acquire(`{"resource":"r","ttl":"1s"}`)
	end := time.Now().Add(2500 * time.Millisecond)
	for time.Now().Before(end) {
		if r := e.do("POST", "/api/v1/leases/"+l.ID+"/renew", ""); r.status != http.StatusOK {
			t.Fatalf("renew: %d %s", r.status, r.body)
		}
		time.Sleep(200 * time.Millisecond)
	}
	var got httpLease
	e.do("GET", "/api/v1/leases/"+l.ID, "").json(t, &got)
	if got.State != stateHeld {
		t.Fatalf("a renewed lease ended: %+v", got)
	}
}

func TestAuth(t *testing.T) {
	alice, bob := strings.Repeat("a", 32), strings.Repeat("b", 32)
	e := newEnv(t, func(s *config.Server) {
		s.Tokens = []config.Token{{Principal: "alice", Token: alice}, {Principal: "bob", Token: bob}}
	})
	for _, h := range [][]string{nil, {"Authorization: Bearer wrong"}, {"Authorization: Basic " + alice}} {
		r := e.do("GET", "/api/v1/locks", "", h...)
		if r.status != http.StatusUnauthorized || r.code(t) != codeUnauthorized || r.header.Get("WWW-Authenticate") == "" {
			t.Fatalf("headers %v: %d %s", h, r.status, r.body)
		}
	}
	if r := e.do("GET", "/metrics", ""); r.status != http.StatusUnauthorized {
		t.Fatalf("/metrics without a token: %d", r.status)
	}
	if r := e.do("POST", "/api/v1/leases", `{"resource":"r"}`); r.status != http.StatusUnauthorized {
		t.Fatalf("acquire without a token: %d", r.status)
	}
	l := e.acquire(`{"resource":"r"}`, "Authorization: Bearer "+alice)
	if l.Principal != "alice" {
		t.Fatalf("principal = %q", l.Principal)
	}
	// Bob can neither see nor release alice's lease.
	if r := e.do("GET", "/api/v1/leases/"+l.ID, "", "Authorization: Bearer "+bob); r.status != http.StatusNotFound {
		t.Fatalf("bob reads alice's lease: %d %s", r.status, r.body)
	}
	if r := e.do("DELETE", "/api/v1/leases/"+l.ID, "", "Authorization: Bearer "+bob); r.status != http.StatusNotFound {
		t.Fatalf("bob releases alice's lease: %d %s", r.status, r.body)
	}
	if r := e.do("DELETE", "/api/v1/leases/"+l.ID, "", "Authorization: Bearer "+alice); r.status != http.StatusOK {
		t.Fatalf("alice releases her lease: %d %s", r.status, r.body)
	}
	// The dashboard's files need no token; the event stream takes one as a query.
	if r := e.do("GET", "/", ""); r.status != http.StatusOK {
		t.Fatalf("dashboard: %d", r.status)
	}
	e.subscribe("?access_token=" + alice)
}

func TestRateLimit(t *testing.T) {
	e := newEnv(t, func(s *config.Server) { s.RateLimit, s.Burst = 1, 3 })
	var last response
	for i := 0; i < 4; i++ {
		last = e.do("GET", "/api/v1/leases", "")
	}
	if last.status != http.StatusTooManyRequests || last.code(t) != codeRateLimited {
		t.Fatalf("4th request at 1/s with burst 3: %d %s", last.status, last.body)
	}
	if ra := last.header.Get("Retry-After"); ra == "" || ra == "0" {
		t.Fatalf("Retry-After = %q", ra)
	}
}

func TestCORS(t *testing.T) {
	preflight := func(e *testEnv, origin string) response {
		return e.do("OPTIONS", "/api/v1/leases", "", "Origin: "+origin, "Access-Control-Request-Method: POST",
			"Access-Control-Request-Headers: authorization, content-type")
	}
	off := newEnv(t, nil)
	if r := preflight(off, "https://ops.example"); r.status != http.StatusForbidden || r.header.Get("Access-Control-Allow-Origin") != "" {
		t.Fatalf("preflight with CORS off: %d %v", r.status, r.header)
	}
	if r := off.do("GET", "/api/v1/leases", "", "Origin: https://ops.example"); r.header.Get("Access-Control-Allow-Origin") != "" {
		t.Fatalf("CORS header sent with CORS off")
	}
	on := newEnv(t, func(s *config.Server) { s.CORS = []string{"https://ops.example"} })
	r := preflight(on, "https://ops.example")
	if r.status != http.StatusNoContent || r.header.Get("Access-Control-Allow-Origin") != "https://ops.example" ||
		!strings.Contains(r.header.Get("Access-Control-Allow-Headers"), "Authorization") ||
		!strings.Contains(r.header.Get("Access-Control-Allow-Methods"), "POST") {
		t.Fatalf("allowed preflight: %d %v", r.status, r.header)
	}
	if r := preflight(on, "https://evil.example"); r.status != http.StatusForbidden {
		t.Fatalf("preflight from another origin: %d", r.status)
	}
}

func TestBadRequestsChangeNothing(t *testing.T) {
	e := newEnv(t, func(s *config.Server) { s.MaxBody = 1024 })
	cases := []struct {
		name, body, ctype string
		status            int
		code              string
	}{
		{"oversized", `{"resource":"r","metadata":{"k":"` + strings.Repeat("x", 2000) + `"}}`, "application/json", 413, codeTooLarge},
		{"not json", `{"resource":`, "application/json", 400, codeMalformed},
		{"empty", ``, "application/json", 400, codeMalformed},
		{"unknown field", `{"resource":"r","moed":"shared"}`, "application/json", 400, codeMalformed},
		{"trailing data", `{"resource":"r"} {"resource":"s"}`, "application/json", 400, codeMalformed},
		{"wrong type", `{"resource":5}`, "application/json", 400, codeMalformed},
		{"bad mode", `{"resource":"r","mode":"sideways"}`, "application/json", 400, codeInvalidArgument},
		{"bad duration", `{"resource":"r","wait":"soon"}`, "application/json", 400, codeMalformed},
		{"negative wait", `{"resource":"r","wait":"-1s"}`, "application/json", 400, codeInvalidArgument},
		{"ttl too short", `{"resource":"r","ttl":"10ms"}`, "application/json", 400, codeInvalidArgument},
		{"empty resource", `{"resource":"  "}`, "application/json", 400, codeInvalidArgument},
		{"exclusive semaphore", `{"resource":"r","limit":2,"mode":"exclusive"}`, "application/json", 400, codeInvalidArgument},
		{"form body", `resource=r`, "application/x-www-form-urlencoded", 415, codeUnsupportedMedia},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := e.do("POST", "/api/v1/leases", c.body, "Content-Type: "+c.ctype)
			if r.status != c.status || r.code(t) != c.code {
				t.Fatalf("%d %s, want %d %s", r.status, r.body, c.status, c.code)
			}
		})
	}
	var list struct{ Locks []host.ResourceStatus }
	e.do("GET", "/api/v1/locks", "").json(t, &list)
	if len(list.Locks) != 0 {
		t.Fatalf("refused requests left locks: %+v", list.Locks)
	}
	if r := e.do("POST", "/api/v1/leases/0123/convert", `{"mode":"shared"}`); r.status != http.StatusNotFound || r.code(t) != codeNotHeld {
		t.Fatalf("convert of no lease: %d %s", r.status, r.body)
	}
	if r := e.do("GET", "/api/v1/nope", ""); r.status != http.StatusNotFound || r.code(t) != codeNotFound {
		t.Fatalf("unknown route: %d %s", r.status, r.body)
	}
	if r := e.do("PUT", "/api/v1/leases", `{}`); r.status != http.StatusMethodNotAllowed || r.code(t) != codeMethod {
		t.Fatalf("wrong method: %d %s", r.status, r.body)
	}
}

func TestEventStreamInOrder(t *testing.T) {
	e := newEnv(t, nil)
	events := e.subscribe("")
	l := e.acquire(`{"resource":"ordered"}`)
	e.do("DELETE", "/api/v1/leases/"+l.ID, "")
	mine := func(ev Event) bool { return ev.Resource == "ordered" }
	first := events.next(t, mine)
	second := events.next(t, mine)
	if first.Kind != "acquired" || second.Kind != "released" || first.Token != l.Token || second.Token != l.Token || second.ID <= first.ID {
		t.Fatalf("events = %+v then %+v", first, second)
	}
	// A late subscriber replays what is retained from an id.
	replay := e.subscribe(fmt.Sprintf("?since=%d", first.ID-1))
	if ev := replay.next(t, mine); ev.ID != first.ID {
		t.Fatalf("replay started at %+v", ev)
	}
}

func TestHealth(t *testing.T) {
	e := newEnv(t, nil)
	for _, path := range []string{"/api/v1/health", "/api/health"} {
		r := e.do("GET", path, "")
		var h struct {
			Status string
			Host   host.Health
		}
		r.json(t, &h)
		if r.status != http.StatusOK || h.Status != "ok" || !h.Host.Backend.Alive || h.Host.Backend.Name != "file" || h.Host.Backend.PID == 0 || h.Host.Backend.RTT <= 0 {
			t.Fatalf("%s: %d %s", path, r.status, r.body)
		}
	}
}

func TestShutdownReleasesLeases(t *testing.T) {
	e := newEnv(t, nil)
	e.acquire(`{"resource":"held-at-shutdown"}`)
	other := e.otherHost()
	if _, err := other.Named(context.Background(), "held-at-shutdown", host.NoWait()); err == nil {
		t.Fatal("another host took a lock the server holds")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := e.srv.Shutdown(ctx); err != nil {
		t.Fatalf("shutdown: %v", err)
	}
	l, err := other.Named(context.Background(), "held-at-shutdown", host.NoWait())
	if err != nil {
		t.Fatalf("after shutdown the lock is still held: %v", err)
	}
	_ = l.Release(context.Background())
}

// TestBearerPrincipalReachesMiddleware: the principal of a bearer token is
// who the host's middleware sees, for the acquire and for the release.
func TestBearerPrincipalReachesMiddleware(t *testing.T) {
	tok := strings.Repeat("c", 32)
	audit := filepath.Join(t.TempDir(), "audit.log")
	e := newEnvWith(t, func(c *config.Config) {
		c.Server.Tokens = []config.Token{{Principal: "deploy-bot", Token: tok}}
		c.Middleware = []string{"auditmw"}
		c.Plugins["auditmw"] = config.Plugin{Path: auditPlugin, Config: map[string]any{"log": audit}}
	})
	auth := "Authorization: Bearer " + tok
	l := e.acquire(`{"resource":"who"}`, auth)
	if r := e.do("DELETE", "/api/v1/leases/"+l.ID, "", auth); r.status != http.StatusOK {
		t.Fatalf("release: %d %s", r.status, r.body)
	}
	raw, _ := os.ReadFile(audit)
	for _, want := range []string{"before acquire who deploy-bot ", "after acquire who deploy-bot ", "before release who deploy-bot "} {
		if !strings.Contains(string(raw), want) {
			t.Errorf("the middleware did not see the bearer's principal: no %q in\n%s", want, raw)
		}
	}
}
