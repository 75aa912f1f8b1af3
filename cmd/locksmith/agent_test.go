//go:build linux

package main

import (
	"bufio"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// agentProc is a running `locksmith serve --agent-socket`.
type agentProc struct {
	pid    int
	sock   string
	exited chan struct{}
}

// serveAgent starts `locksmith serve` with an agent socket, points exec at
// it (LOCKSMITH_SERVER, for this test) and returns once it serves.
func (e *env) serveAgent() *agentProc {
	e.t.Helper()
	dir, err := os.MkdirTemp("", "lsa")
	if err != nil {
		e.t.Fatal(err)
	}
	e.t.Cleanup(func() { os.RemoveAll(dir) })
	sock := filepath.Join(dir, "agent.sock")
	c := e.command("serve", "--listen", "127.0.0.1:0", "--agent-socket", sock)
	stderr, err := c.StderrPipe()
	if err != nil {
		e.t.Fatal(err)
	}
	if err := c.Start(); err != nil {
		e.t.Fatal(err)
	}
	a := &agentProc{pid: c.Process.Pid, sock: sock, exited: make(chan struct{})}
	e.t.Cleanup(func() {
		_ = c.Process.Kill()
		<-a.exited
	})
	up := make(chan struct{}, 1)
	go func() {
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			if strings.Contains(sc.Text(), "serving exec on unix://") {
				up <- struct{}{}
			}
		}
		_ = c.Wait()
		close(a.exited)
	}()
	select {
	case <-up:
	case <-a.exited:
		e.t.Fatal("locksmith serve --agent-socket exited before it served")
	case <-time.After(30 * time.Second):
		e.t.Fatal("locksmith serve did not say it serves exec")
	}
	e.t.Setenv(serverEnv, "unix://"+sock)
	return a
}

func TestExecThroughServerNoLostUpdate(t *testing.T) {
	e := newEnv(t)
	a := e.serveAgent()
	incrementAcross(t, []*env{e}, 8, 10, func(counter string) []string { return []string{counter} })

	// The server held those locks: a holder through it is the server's
	// process, and without the server exec does not run.
	r := filepath.Join(e.dir, "R")
	ready := filepath.Join(e.dir, "ready")
	holder := e.command("exec", r, "--", "sh", "-c", "touch "+ready+"; sleep 120")
	if err := holder.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = holder.Process.Kill(); _ = holder.Wait() }()
	waitExists(t, ready, 20*time.Second)
	code, out := e.run("exec", "--no-wait", r, "--", "true")
	if code != exitNotLocked || !strings.Contains(out, "by pid "+strconv.Itoa(a.pid)+" ") {
		t.Fatalf("exec -n on a lock held through the server (pid %d): exit %d, %q", a.pid, code, out)
	}
	_ = holder.Process.Kill()
	_ = holder.Wait()
	_ = syscall.Kill(a.pid, syscall.SIGTERM)
	<-a.exited
	if code, out := e.run("exec", r, "--", "true"); code != exitNotLocked || !strings.Contains(out, "reach server") {
		t.Fatalf("exec with its server gone: exit %d, %q; want 75 naming the server", code, out)
	}
}

func TestExecThroughServerKilledReleasesAndStopsItsCommand(t *testing.T) {
	e := newEnv(t)
	e.serveAgent()
	r := filepath.Join(e.dir, "R")
	ready, bg := filepath.Join(e.dir, "ready"), filepath.Join(e.dir, "bgpid")
	// The command leaves a process of its group running in the background.
	holder := e.command("exec", r, "--", "sh", "-c", "sleep 120 & echo $! > "+bg+"; touch "+ready+"; wait")
	if err := holder.Start(); err != nil {
		t.Fatal(err)
	}
	waitExists(t, ready, 20*time.Second)
	bgPID, err := strconv.Atoi(strings.TrimSpace(waitFile(t, bg, 5*time.Second)))
	if err != nil {
		t.Fatal(err)
	}
	if err := holder.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	_ = holder.Wait()

	// The next holder gets the lock once the killed one's group is gone.
	verdict := filepath.Join(e.dir, "verdict")
	check := "if kill -0 " + strconv.Itoa(bgPID) + " 2>/dev/null && ! grep -q '^[^)]*) Z' /proc/" + strconv.Itoa(bgPID) + "/stat; then echo running; else echo gone; fi > " + verdict
	deadline := time.Now().Add(20 * time.Second)
	for {
		code, out := e.run("exec", "--no-wait", r, "--", "sh", "-c", check)
		if code == 0 {
			break
		}
		if code != exitNotLocked || time.Now().After(deadline) {
			t.Fatalf("exec after its holder's SIGKILL: exit %d, %q", code, out)
		}
		time.Sleep(20 * time.Millisecond)
	}
	if got := strings.TrimSpace(waitFile(t, verdict, 5*time.Second)); got != "gone" {
		t.Fatalf("the killed holder's background process was %s when the lock passed on", got)
	}
}

func TestExecThroughServerWithdrawsOnSignal(t *testing.T) {
	e := newEnv(t)
	e.serveAgent()
	r := filepath.Join(e.dir, "R")
	ready, release := filepath.Join(e.dir, "ready"), filepath.Join(e.dir, "release")
	holder := e.command("exec", r, "--", "sh", "-c", "touch "+ready+"; i=0; while [ ! -e "+release+" ] && [ $i -lt 2400 ]; do sleep 0.05; i=$((i+1)); done")
	if err := holder.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = holder.Process.Kill(); _ = holder.Wait() }()
	waitExists(t, ready, 20*time.Second)

	ran := filepath.Join(e.dir, "ran")
	waiter := e.command("exec", r, "--", "touch", ran)
	if err := waiter.Start(); err != nil {
		t.Fatal(err)
	}
	// The waiter is queued once the server lists it among the waiters;
	// a signal then ends its wait.
	deadline := time.Now().Add(20 * time.Second)
	for {
		code, out := e.run("status", r)
		if code == 0 && strings.Contains(out, " 1 waiter(s)") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the waiter never showed in status: %q", out)
		}
		time.Sleep(20 * time.Millisecond)
	}
	if err := waiter.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if err := waiter.Wait(); err == nil || waiter.ProcessState.ExitCode() != 128+int(syscall.SIGTERM) {
		t.Fatalf("waiter after SIGTERM: %v, want exit %d", err, 128+int(syscall.SIGTERM))
	}
	if err := os.WriteFile(release, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := holder.Wait(); err != nil {
		t.Fatalf("holder: %v", err)
	}
	if code, out := e.run("exec", "--no-wait", r, "--", "true"); code != 0 {
		t.Fatalf("exec -n after the waiter withdrew and the holder left: exit %d, %q", code, out)
	}
	if _, err := os.Stat(ran); err == nil {
		t.Fatal("the withdrawn waiter's command ran")
	}
}

func TestExecServerAddress(t *testing.T) {
	e := newEnv(t)
	t.Setenv(serverEnv, "http://127.0.0.1:7700")
	if code, out := e.run("exec", filepath.Join(e.dir, "R"), "--", "true"); code != exitUsage || !strings.Contains(out, "unix:///") {
		t.Fatalf("LOCKSMITH_SERVER=http://…: exit %d, %q; want 2 asking for unix:///path", code, out)
	}
	t.Setenv(serverEnv, "unix://"+filepath.Join(e.dir, "no.sock"))
	if code, out := e.run("exec", filepath.Join(e.dir, "R"), "--", "true"); code != exitNotLocked || !strings.Contains(out, "reach server") {
		t.Fatalf("no server on the socket: exit %d, %q; want 75", code, out)
	}
}
