package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/locksmithx/locksmith/internal/redistest"
)

// logServer is a `locksmith serve` whose stderr the test reads.
type logServer struct {
	*serving
	mu  sync.Mutex
	log strings.Builder
}

// serveLogged starts `locksmith serve` on a free loopback port, keeping
// its stderr.
func (e *env) serveLogged() *logServer {
	e.t.Helper()
	c := e.command("serve", "--listen", "127.0.0.1:0")
	stderr, err := c.StderrPipe()
	if err != nil {
		e.t.Fatal(err)
	}
	if err := c.Start(); err != nil {
		e.t.Fatal(err)
	}
	s := &logServer{serving: &serving{cmd: c, exited: make(chan struct{})}}
	e.t.Cleanup(func() {
		_ = c.Process.Kill()
		<-s.exited
	})
	found := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			s.mu.Lock()
			s.log.WriteString(sc.Text() + "\n")
			s.mu.Unlock()
			if _, rest, ok := strings.Cut(sc.Text(), "serving on "); ok {
				found <- strings.Fields(rest)[0]
			}
		}
		s.err = c.Wait()
		close(s.exited)
	}()
	select {
	case s.url = <-found:
	case <-time.After(30 * time.Second):
		e.t.Fatal("locksmith serve did not say where it listens")
	}
	return s
}

// logged waits up to 30 s for a stderr line containing text after the
// first from bytes of the log, and returns the log's length then.
func (s *logServer) logged(t *testing.T, from int, text string) int {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		s.mu.Lock()
		all := s.log.String()
		s.mu.Unlock()
		if i := strings.Index(all[from:], text); i >= 0 {
			return from + i + len(text)
		}
		if time.Now().After(deadline) {
			t.Fatalf("serve did not log %q within 30s; its log:\n%s", text, all)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// defaultBackend reads the server's default backend from its health.
func (s *logServer) defaultBackend(t *testing.T) string {
	t.Helper()
	res, err := http.Get(s.url + "/api/v1/health")
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	var body struct {
		Host struct {
			Backend struct {
				Name string `json:"name"`
			} `json:"backend"`
		} `json:"host"`
	}
	if err := json.NewDecoder(res.Body).Decode(&body); err != nil {
		t.Fatal(err)
	}
	return body.Host.Backend.Name
}

// A server's default backend is switched file → Redis → file … by edits of
// its config file and by SIGHUP, while HTTP clients hold and queue for one
// lock: no two hold it at once (each backend's fencing tokens only grow),
// every request is served, a bad config is refused while the old one keeps
// serving, and `locksmith plugins` shows each switch.
func TestServeHotSwapUnderLoad(t *testing.T) {
	srv := redistest.Start(t)
	e := newEnv(t)
	// The clients are one principal: no rate limit.
	head := "server: { rate_limit: 0 }\n"
	e.writeMulti(srv.Addr, head+"backend: file\n")
	s := e.serveLogged()

	var (
		mu     sync.Mutex
		inside int
		last   = map[string]int64{}
		grants = map[string]int{}
		total  atomic.Int64
		stop   atomic.Bool
		wg     sync.WaitGroup
		errs   = make(chan error, 100)
	)
	fail := func(err error) {
		select {
		case errs <- err:
		default:
		}
	}
	client := &http.Client{Timeout: 90 * time.Second}
	for w := 0; w < 4; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			for i := 0; !stop.Load(); i++ {
				res, err := client.Post(s.url+"/api/v1/leases", "application/json",
					strings.NewReader(`{"resource":"counter","wait":"60s"}`))
				if err != nil {
					fail(fmt.Errorf("client %d: acquire: %w", w, err))
					return
				}
				var l struct {
					ID      string `json:"lease_id"`
					Token   int64  `json:"fencing_token"`
					Backend string `json:"backend"`
				}
				err = json.NewDecoder(res.Body).Decode(&l)
				res.Body.Close()
				if res.StatusCode != http.StatusCreated || err != nil {
					fail(fmt.Errorf("client %d: request %d not served: HTTP %d %v", w, i, res.StatusCode, err))
					return
				}
				mu.Lock()
				inside++
				if inside != 1 {
					fail(fmt.Errorf("client %d: %d holders at once (token %d on %s)", w, inside, l.Token, l.Backend))
				}
				if l.Token <= last[l.Backend] {
					fail(fmt.Errorf("client %d: token %d on %s after %d", w, l.Token, l.Backend, last[l.Backend]))
				}
				last[l.Backend] = l.Token
				grants[l.Backend]++
				mu.Unlock()
				time.Sleep(5 * time.Millisecond)
				mu.Lock()
				inside--
				mu.Unlock()
				req, _ := http.NewRequest(http.MethodDelete, s.url+"/api/v1/leases/"+l.ID, nil)
				res, err = client.Do(req)
				if err != nil || res.StatusCode != http.StatusOK {
					fail(fmt.Errorf("client %d: release of a held lease: %v %v", w, res, err))
					return
				}
				res.Body.Close()
				total.Add(1)
			}
		}(w)
	}
	defer func() {
		stop.Store(true)
		wg.Wait()
	}()
	progress := func() {
		t.Helper()
		want := total.Load() + 5
		deadline := time.Now().Add(60 * time.Second)
		for total.Load() < want {
			if len(errs) > 0 {
				t.Fatal(<-errs)
			}
			if time.Now().After(deadline) {
				t.Fatalf("clients stalled: %d grants", total.Load())
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
	at := 0
	for i, to := range []string{"redis", "file", "redis", "file"} {
		progress()
		e.writeMulti(srv.Addr, head+"backend: "+to+"\n")
		at = s.logged(t, at, "config reloaded (config file changed): backend "+to)
		if got := s.defaultBackend(t); got != to {
			t.Fatalf("switch %d: the server's default is %s, want %s", i, got, to)
		}
		code, out := e.run("plugins")
		if code != 0 || !regexpLine(out, `^`+to+` \*\s+backend\s+default`) {
			t.Fatalf("switch %d: plugins does not show %s as the default: exit %d\n%s", i, to, code, out)
		}
	}
	// SIGHUP reloads too.
	progress()
	if err := s.cmd.Process.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	at = s.logged(t, at, "config reloaded (SIGHUP): backend file")
	// A bad config is refused; the running one keeps serving.
	progress()
	e.writeMulti(srv.Addr, head+"backend: nosuch\n")
	at = s.logged(t, at, "config reload refused")
	if got := s.defaultBackend(t); got != "file" {
		t.Fatalf("after a refused config the default is %s", got)
	}
	progress()
	stop.Store(true)
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	mu.Lock()
	defer mu.Unlock()
	if grants["file"] == 0 || grants["redis"] == 0 {
		t.Fatalf("grants per backend %v: want both", grants)
	}
	t.Logf("grants per backend %v", grants)
}
