package consul

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/locksmithx/locksmith/internal/consultest"
)

// execEnv runs `locksmith exec` processes on the Consul backend.
type execEnv struct {
	t      testing.TB
	dir    string
	config string
	addr   string // the agent's HTTP address
}

// newExecEnv writes a config that selects the Consul plugin (the
// standalone binary, or with builtin the one inside locksmith) on addr.
func newExecEnv(t testing.TB, addr, prefix string, ttl time.Duration, builtin bool) *execEnv {
	t.Helper()
	dir := t.TempDir()
	e := &execEnv{t: t, dir: dir, config: filepath.Join(dir, "locksmith.yaml"), addr: addr}
	where := fmt.Sprintf("    path: %s\n", plugin)
	if builtin {
		where = fmt.Sprintf("    path: %s\n    args: [plugin, serve, consul]\n", locksmith)
	}
	body := fmt.Sprintf("backend: consul\nlease: { ttl: %s }\nplugins:\n  consul:\n%s    config: { address: %q, prefix: %q }\n",
		ttl, where, addr, prefix)
	if err := os.WriteFile(e.config, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
	return e
}

func (e *execEnv) command(args ...string) *exec.Cmd {
	c := exec.Command(locksmith, append([]string{"--config", e.config}, args...)...)
	c.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	return c
}

// run runs locksmith to the end (bounded by 90 s) and returns its exit
// code and combined output.
func (e *execEnv) run(args ...string) (int, string) {
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	c := e.command(args...)
	var out bytes.Buffer
	c.Stdout, c.Stderr = &out, &out
	if err := c.Start(); err != nil {
		e.t.Fatal(err)
	}
	stop := context.AfterFunc(ctx, func() { _ = c.Process.Kill() })
	defer stop()
	err := c.Wait()
	if err != nil {
		if ee, ok := err.(*exec.ExitError); ok {
			return ee.ExitCode(), out.String()
		}
		return -1, out.String() + err.Error()
	}
	return 0, out.String()
}

func (e *execEnv) script(name, body string) string {
	p := filepath.Join(e.dir, name)
	if err := os.WriteFile(p, []byte("#!/bin/sh\n"+body), 0o755); err != nil {
		e.t.Fatal(err)
	}
	return p
}

// incrementAcross runs procs goroutines that each run `exec` runs times
// around a read-increment-write of a counter file, and checks that no
// update was lost and that the fencing tokens strictly increased in run
// order. It returns the wall time.
func incrementAcross(t *testing.T, envs []*execEnv, procs, runs int) time.Duration {
	t.Helper()
	dir := t.TempDir()
	counter, tokens := filepath.Join(dir, "counter"), filepath.Join(dir, "tokens")
	if err := os.WriteFile(counter, []byte("0\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	inc := envs[0].script("increment", `n=$(cat "$1"); echo $((n+1)) > "$1"; echo "$LOCKSMITH_FENCING_TOKEN" >> "$2"`+"\n")
	var wg sync.WaitGroup
	fails := make(chan string, procs*runs)
	start := time.Now()
	for p := range procs {
		e := envs[p%len(envs)]
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range runs {
				if code, out := e.run("exec", "--named", "counter", "--", inc, counter, tokens); code != 0 {
					fails <- fmt.Sprintf("exit %d: %s", code, out)
				}
			}
		}()
	}
	wg.Wait()
	took := time.Since(start)
	close(fails)
	for f := range fails {
		t.Fatal(f)
	}
	raw, _ := os.ReadFile(counter)
	if got := strings.TrimSpace(string(raw)); got != strconv.Itoa(procs*runs) {
		t.Fatalf("counter %s, want %d: updates were lost", got, procs*runs)
	}
	toks := readTokens(t, tokens)
	if len(toks) != procs*runs {
		t.Fatalf("%d tokens recorded, want %d", len(toks), procs*runs)
	}
	for i := 1; i < len(toks); i++ {
		if toks[i] <= toks[i-1] {
			t.Fatalf("token %d after %d (run %d): not strictly increasing in run order", toks[i], toks[i-1], i+1)
		}
	}
	return took
}

func readTokens(t testing.TB, path string) []int64 {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out []int64
	for sc := bufio.NewScanner(f); sc.Scan(); {
		tok, err := strconv.ParseInt(strings.TrimSpace(sc.Text()), 10, 64)
		if err != nil {
			t.Fatalf("%q is not a token", sc.Text())
		}
		out = append(out, tok)
	}
	return out
}

// TestExecNoLostUpdate: 8 processes × 25 `locksmith exec` runs on one
// Consul agent, half through the standalone plugin and half through the
// one built into locksmith, increment a counter file: no update is lost
// and the fencing tokens strictly increase.
func TestExecNoLostUpdate(t *testing.T) {
	if testing.Short() {
		t.Skip("200 exec runs")
	}
	agent := consultest.StartDev(t)
	envs := []*execEnv{
		newExecEnv(t, agent.Addr, "exec/", 15*time.Second, false),
		newExecEnv(t, agent.Addr, "exec/", 15*time.Second, true),
	}
	took := incrementAcross(t, envs, 8, 25)
	t.Logf("8 × 25 exec runs on consul: %v", took.Round(time.Millisecond))
}

// waitExists polls for path until it exists or d passes.
func waitExists(t testing.TB, path string, d time.Duration) {
	t.Helper()
	deadline := time.Now().Add(d)
	for {
		if _, err := os.Stat(path); err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s did not appear within %v", path, d)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestExecKilledHolderHandsOff: when an `exec` that holds a lock is killed
// with SIGKILL, its plugin process (which outlives it) revokes the
// session, and a waiting `exec` gets the lock within 2 s — not after the
// 15 s lease, nor Consul's lock-delay.
func TestExecKilledHolderHandsOff(t *testing.T) {
	agent := consultest.StartDev(t)
	e := newExecEnv(t, agent.Addr, "kill/", 15*time.Second, false)
	ready, got := filepath.Join(e.dir, "ready"), filepath.Join(e.dir, "got")
	holder := e.command("exec", "--named", "job", "--", "sh", "-c", "touch "+ready+"; exec sleep 60")
	holder.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := holder.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() {
		_ = syscall.Kill(-holder.Process.Pid, syscall.SIGKILL)
		_ = holder.Wait()
	}()
	waitExists(t, ready, 20*time.Second)
	waiter := e.command("exec", "--named", "job", "--", "touch", got)
	var out bytes.Buffer
	waiter.Stdout, waiter.Stderr = &out, &out
	if err := waiter.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = waiter.Process.Kill(); _ = waiter.Wait() }()
	// The waiter is queued once its session shows in Consul's list of
	// sessions beside the holder's.
	waitSessions(t, agent.Addr, 2, 20*time.Second)
	if _, err := os.Stat(got); err == nil {
		t.Fatal("the waiter ran while the holder held the lock")
	}
	killed := time.Now()
	if err := syscall.Kill(holder.Process.Pid, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	waitExists(t, got, 10*time.Second)
	took := time.Since(killed)
	t.Logf("waiter got the lock %v after the holder was killed", took.Round(time.Millisecond))
	if took > 2*time.Second {
		t.Errorf("handoff after SIGKILL took %v, want at most 2s", took)
	}
}

// waitSessions polls the agent until it lists at least n sessions.
func waitSessions(t testing.TB, addr string, n int, d time.Duration) {
	t.Helper()
	s := open(t, addr, nil)
	deadline := time.Now().Add(d)
	for {
		list, _, err := s.c.api.Session().List(nil)
		if err == nil && len(list) >= n {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("agent lists %d sessions after %v, want %d (%v)", len(list), d, n, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestAgentRestartLosesLocks: a dev agent keeps its state in memory; when
// it restarts while an `exec` holds a lock, the holder learns that the
// server forgot its session — its command gets SIGTERM and exec says the
// lock was lost — within the lease.
func TestAgentRestartLosesLocks(t *testing.T) {
	agent := consultest.StartDev(t)
	e := newExecEnv(t, agent.Addr, "restart/", 6*time.Second, false)
	ready, term := filepath.Join(e.dir, "ready"), filepath.Join(e.dir, "term")
	holder := e.command("exec", "--named", "job", "--", "sh", "-c",
		"trap 'echo term > "+term+"; exit 143' TERM; touch "+ready+"; while :; do sleep 0.05; done")
	var out bytes.Buffer
	holder.Stdout, holder.Stderr = &out, &out
	if err := holder.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = holder.Process.Kill(); _ = holder.Wait() }()
	waitExists(t, ready, 20*time.Second)
	restarted := time.Now()
	if err := agent.Restart(); err != nil {
		t.Fatal(err)
	}
	if err := agent.WaitLeader(30 * time.Second); err != nil {
		t.Fatal(err)
	}
	waitExists(t, term, 15*time.Second)
	t.Logf("holder's command stopped %v after the agent restart began", time.Since(restarted).Round(time.Millisecond))
	done := make(chan error, 1)
	go func() { done <- holder.Wait() }()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("exec did not end after its lock was lost")
	}
	if !strings.Contains(out.String(), "lock lost") {
		t.Errorf("exec did not say the lock was lost: %s", out.String())
	}
	// The agent works again: a new exec takes the lock.
	if code, msg := e.run("exec", "--named", "job", "--", "true"); code != 0 {
		t.Errorf("exec after the restart: exit %d: %s", code, msg)
	}
}
