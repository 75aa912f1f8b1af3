package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"net/http"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"
)

// serving is a running `locksmith serve`.
type serving struct {
	cmd    *exec.Cmd
	url    string
	exited chan struct{} // closed when the process has exited
	err    error         // its exit, once exited is closed
}

// serve starts `locksmith serve` on a free loopback port and returns once
// it says where it listens.
func (e *env) serve() *serving {
	e.t.Helper()
	c := e.command("serve", "--listen", "127.0.0.1:0")
	stderr, err := c.StderrPipe()
	if err != nil {
		e.t.Fatal(err)
	}
	if err := c.Start(); err != nil {
		e.t.Fatal(err)
	}
	s := &serving{cmd: c, exited: make(chan struct{})}
	e.t.Cleanup(func() {
		_ = c.Process.Kill()
		<-s.exited
	})
	found := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
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

func (s *serving) post(t *testing.T, path, body string) (int, map[string]any) {
	t.Helper()
	res, err := http.Post(s.url+path, "application/json", strings.NewReader(body))
	if err != nil {
		t.Fatalf("POST %s: %v", path, err)
	}
	defer res.Body.Close()
	var out map[string]any
	_ = json.NewDecoder(res.Body).Decode(&out)
	return res.StatusCode, out
}

func TestServeSharesLocksWithExecAndReleasesOnSIGTERM(t *testing.T) {
	e := newEnv(t)
	s := e.serve()
	status, lease := s.post(t, "/api/v1/leases", `{"resource":"deploy"}`)
	if status != http.StatusCreated || lease["fencing_token"] == nil {
		t.Fatalf("acquire over HTTP: %d %v", status, lease)
	}
	if code, out := e.run("exec", "--no-wait", "--named", "deploy", "--", "true"); code != exitNotLocked {
		t.Fatalf("exec while the server holds the lock: exit %d, %s", code, out)
	}
	token := fmt.Sprint(int64(lease["fencing_token"].(float64)))
	for _, args := range [][]string{
		{"tree", "--server", s.url},
		{"top", "--server", s.url, "--iterations", "1"},
	} {
		code, out := e.run(args...)
		if code != 0 || !strings.Contains(out, "deploy") || !strings.Contains(out, token) {
			t.Fatalf("%v: exit %d, %s", args, code, out)
		}
	}
	if code, out := e.run("health", "--server", s.url); code != 0 || !strings.Contains(out, "backend file") || !strings.Contains(out, "ok") {
		t.Fatalf("health --server: exit %d, %s", code, out)
	}
	if code, out := e.run("tree", "--server", "ftp://x"); code != exitUsage {
		t.Fatalf("tree --server ftp://x: exit %d, %s", code, out)
	}
	if err := s.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case <-s.exited:
		if s.err != nil {
			t.Fatalf("serve after SIGTERM: %v", s.err)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("serve did not stop within 20 s of SIGTERM")
	}
	if code, out := e.run("exec", "--no-wait", "--named", "deploy", "--", "true"); code != 0 {
		t.Fatalf("exec after the server shut down: exit %d, %s", code, out)
	}
}

func TestServeKilledFreesItsLocks(t *testing.T) {
	e := newEnv(t)
	s := e.serve()
	if status, lease := s.post(t, "/api/v1/leases", `{"resource":"job"}`); status != http.StatusCreated {
		t.Fatalf("acquire over HTTP: %d %v", status, lease)
	}
	if err := s.cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	<-s.exited
	deadline := time.Now().Add(10 * time.Second)
	for {
		code, out := e.run("exec", "--no-wait", "--named", "job", "--", "true")
		if code == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the lock of a killed server is still held after 10 s: exit %d, %s", code, out)
		}
		time.Sleep(50 * time.Millisecond)
	}
	// A restarted server serves again on the same store.
	s2 := e.serve()
	if status, lease := s2.post(t, "/api/v1/leases", `{"resource":"job"}`); status != http.StatusCreated {
		t.Fatalf("acquire on the restarted server: %d %v", status, lease)
	}
}
