package server

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/locksmithx/locksmith/config"
	"github.com/locksmithx/locksmith/host"
	"github.com/locksmithx/locksmith/internal/testbin"
)

// filePlugin is the file backend's binary and auditPlugin a middleware
// that logs what it sees (host/testdata/auditmw), built once for the tests.
var filePlugin, auditPlugin string

func TestMain(m *testing.M) {
	testbin.Main(m, map[string]string{
		"locksmith-plugin-file":    "./plugins/file/cmd/locksmith-plugin-file",
		"locksmith-plugin-auditmw": "./host/testdata/auditmw",
	}, func(dir string) {
		filePlugin = filepath.Join(dir, "locksmith-plugin-file")
		auditPlugin = filepath.Join(dir, "locksmith-plugin-auditmw")
	})
}

// testEnv is a server on a file-backend host, reached through an
// httptest server. Both end with the test.
type testEnv struct {
	t    *testing.T
	dir  string
	cfg  config.Config
	host *host.Host
	srv  *Server
	http *httptest.Server
}

// hostConfig is a file-backend config whose state lives under dir.
func hostConfig(dir string) config.Config {
	cfg := config.Default()
	cfg.Lease.TTL = 3 * time.Second
	cfg.Plugins["file"] = config.Plugin{Path: filePlugin, Config: map[string]any{
		"named_dir":   filepath.Join(dir, "named"),
		"session_dir": filepath.Join(dir, "sessions"),
	}}
	return cfg
}

func newEnv(t *testing.T, tune func(*config.Server)) *testEnv {
	t.Helper()
	return newEnvWith(t, func(c *config.Config) {
		if tune != nil {
			tune(&c.Server)
		}
	})
}

// newEnvWith is newEnv with the whole host config to tune.
func newEnvWith(t *testing.T, tune func(*config.Config)) *testEnv {
	t.Helper()
	dir := t.TempDir()
	cfg := hostConfig(dir)
	tune(&cfg)
	if err := cfg.Validate(); err != nil {
		t.Fatalf("config: %v", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	h, err := host.New(ctx, cfg)
	if err != nil {
		t.Fatalf("new host: %v", err)
	}
	s := New(h, cfg.Server, nil)
	hs := httptest.NewServer(s.Handler())
	e := &testEnv{t: t, dir: dir, cfg: cfg, host: h, srv: s, http: hs}
	t.Cleanup(func() {
		hs.Close()
		sctx, scancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer scancel()
		_ = s.Shutdown(sctx)
		_ = h.Close()
	})
	return e
}

// otherHost starts a second host on the same store, as another process
// on the machine would see it.
func (e *testEnv) otherHost() *host.Host {
	e.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	h, err := host.New(ctx, e.cfg)
	if err != nil {
		e.t.Fatalf("new host: %v", err)
	}
	e.t.Cleanup(func() { _ = h.Close() })
	return h
}

// response is a decoded answer.
type response struct {
	status int
	header http.Header
	body   []byte
}

func (r response) json(t *testing.T, v any) {
	t.Helper()
	if err := json.Unmarshal(r.body, v); err != nil {
		t.Fatalf("decode %s: %v", r.body, err)
	}
}

// code is the error code of an error answer.
func (r response) code(t *testing.T) string {
	t.Helper()
	var e apiError
	r.json(t, &e)
	return e.Code
}

// do sends a request with an optional JSON body and headers ("K: V").
func (e *testEnv) do(method, path, body string, headers ...string) response {
	e.t.Helper()
	return e.doCtx(context.Background(), method, path, body, headers...)
}

func (e *testEnv) doCtx(ctx context.Context, method, path, body string, headers ...string) response {
	e.t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, e.http.URL+path, rd)
	if err != nil {
		e.t.Fatal(err)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	for _, h := range headers {
		k, v, _ := strings.Cut(h, ": ")
		req.Header.Set(k, v)
	}
	res, err := e.http.Client().Do(req)
	if err != nil {
		if ctx.Err() != nil {
			return response{}
		}
		e.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return response{status: res.StatusCode, header: res.Header, body: b}
}

// acquire takes a lock through the API and returns the lease.
func (e *testEnv) acquire(body string, headers ...string) httpLease {
	e.t.Helper()
	r := e.do("POST", "/api/v1/leases", body, headers...)
	if r.status != http.StatusCreated {
		e.t.Fatalf("acquire %s: %d %s", body, r.status, r.body)
	}
	var l httpLease
	r.json(e.t, &l)
	return l
}

// eventually polls cond until it holds or 10 s pass.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// sse reads an event stream.
type sse struct {
	events chan Event
	cancel context.CancelFunc
}

// subscribe opens the event stream and returns once it is open.
func (e *testEnv) subscribe(query string, headers ...string) *sse {
	e.t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	req, _ := http.NewRequestWithContext(ctx, "GET", e.http.URL+"/api/v1/events"+query, nil)
	for _, h := range headers {
		k, v, _ := strings.Cut(h, ": ")
		req.Header.Set(k, v)
	}
	res, err := e.http.Client().Do(req)
	if err != nil {
		cancel()
		e.t.Fatalf("subscribe: %v", err)
	}
	if res.StatusCode != http.StatusOK || !strings.HasPrefix(res.Header.Get("Content-Type"), "text/event-stream") {
		cancel()
		e.t.Fatalf("subscribe: %d %s", res.StatusCode, res.Header.Get("Content-Type"))
	}
	s := &sse{events: make(chan Event, 1024), cancel: cancel}
	go func() {
		defer res.Body.Close()
		sc := bufio.NewScanner(res.Body)
		var data bytes.Buffer
		for sc.Scan() {
			line := sc.Text()
			switch {
			case strings.HasPrefix(line, "data: "):
				data.WriteString(strings.TrimPrefix(line, "data: "))
			case line == "" && data.Len() > 0:
				var ev Event
				if json.Unmarshal(data.Bytes(), &ev) == nil {
					s.events <- ev
				}
				data.Reset()
			}
		}
		close(s.events)
	}()
	e.t.Cleanup(cancel)
	return s
}

// next returns the next event that matches, within 10 s.
func (s *sse) next(t *testing.T, match func(Event) bool) Event {
	t.Helper()
	timeout := time.After(10 * time.Second)
	for {
		select {
		case ev, ok := <-s.events:
			if !ok {
				t.Fatal("event stream ended")
			}
			if match(ev) {
				return ev
			}
		case <-timeout:
			t.Fatal("no matching event within 10s")
		}
	}
}
