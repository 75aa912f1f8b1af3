//go:build linux

package main

import (
	"bufio"
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

	"github.com/locksmithx/locksmith/internal/testbin"
)

var binDir string

func TestMain(m *testing.M) {
	testbin.Main(m, map[string]string{
		"locksmith":             "./cmd/locksmith",
		"locksmith-exec":        "./cmd/locksmith-exec",
		"locksmith-plugin-file": "./plugins/file/cmd/locksmith-plugin-file",
	}, func(dir string) { binDir = dir })
}

// serve starts `locksmith serve --agent-socket` on a file backend in a
// directory of the test's, stopped by its PID when the test ends, and
// returns the value of LOCKSMITH_SERVER that reaches it and its PID.
func serve(t *testing.T) (server string, pid int) {
	t.Helper()
	dir, err := os.MkdirTemp("", "lse")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	cfg := filepath.Join(dir, "locksmith.yaml")
	if err := os.WriteFile(cfg, fmt.Appendf(nil, "plugin_dir: %s\nplugins:\n  file:\n    config:\n      named_dir: %s\n      session_dir: %s\n",
		binDir, filepath.Join(dir, "named"), filepath.Join(dir, "sessions")), 0o600); err != nil {
		t.Fatal(err)
	}
	sock := filepath.Join(dir, "agent.sock")
	c := exec.Command(filepath.Join(binDir, "locksmith"), "--config", cfg, "serve", "--listen", "127.0.0.1:0", "--agent-socket", sock)
	c.Env = append(os.Environ(), "LOCKSMITH_SERVER=")
	stderr, err := c.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan struct{})
	up := make(chan struct{}, 1)
	go func() {
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			if strings.Contains(sc.Text(), "serving exec on unix://") {
				select {
				case up <- struct{}{}:
				default:
				}
			}
		}
		_ = c.Wait()
		close(exited)
	}()
	t.Cleanup(func() {
		_ = syscall.Kill(c.Process.Pid, syscall.SIGKILL)
		<-exited
	})
	select {
	case <-up:
	case <-exited:
		t.Fatal("locksmith serve exited before it served")
	case <-time.After(30 * time.Second):
		t.Fatal("locksmith serve did not say it serves exec")
	}
	return "unix://" + sock, c.Process.Pid
}

// thin returns a locksmith-exec command reaching server.
func thin(server string, args ...string) *exec.Cmd {
	c := exec.Command(filepath.Join(binDir, "locksmith-exec"), args...)
	c.Env = append(os.Environ(), "LOCKSMITH_SERVER="+server)
	return c
}

// TestThinClientsExcludeEachOther: 6 processes, 10 increments each of one
// counter, every one under the lock through locksmith-exec; each critical
// section logs its fencing token. No update is lost, and the tokens, in
// the order the sections ran, rise.
func TestThinClientsExcludeEachOther(t *testing.T) {
	server, _ := serve(t)
	dir := t.TempDir()
	counter, log := filepath.Join(dir, "counter"), filepath.Join(dir, "log")
	if err := os.WriteFile(counter, []byte("0\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	script := `n=$(cat "$1"); echo $((n+1)) > "$1"; echo "$LOCKSMITH_FENCING_TOKEN" >> "$2"`
	const procs, runs = 6, 10
	var wg sync.WaitGroup
	errs := make(chan error, procs)
	for range procs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range runs {
				if out, err := thin(server, filepath.Join(dir, "lock"), "--", "sh", "-c", script, "sh", counter, log).CombinedOutput(); err != nil {
					errs <- fmt.Errorf("%v: %s", err, out)
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	raw, _ := os.ReadFile(counter)
	if got := strings.TrimSpace(string(raw)); got != strconv.Itoa(procs*runs) {
		t.Fatalf("counter %s, want %d: updates were lost", got, procs*runs)
	}
	raw, _ = os.ReadFile(log)
	last := int64(0)
	for _, l := range strings.Fields(string(raw)) {
		tok, err := strconv.ParseInt(l, 10, 64)
		if err != nil || tok <= last {
			t.Fatalf("fencing token %q after %d", l, last)
		}
		last = tok
	}
}

// TestThinClientKilledReleasesAndStopsItsCommand: a locksmith-exec killed
// by SIGKILL while its command runs loses the lock at once, and its
// command's process group, a background process included, is gone before
// anyone else holds the lock.
func TestThinClientKilledReleasesAndStopsItsCommand(t *testing.T) {
	server, _ := serve(t)
	dir := t.TempDir()
	r, ready, bg := filepath.Join(dir, "R"), filepath.Join(dir, "ready"), filepath.Join(dir, "bgpid")
	holder := thin(server, r, "--", "sh", "-c", "sleep 120 & echo $! > "+bg+"; touch "+ready+"; wait")
	if err := holder.Start(); err != nil {
		t.Fatal(err)
	}
	waitFor(t, func() bool { _, err := os.Stat(ready); return err == nil })
	var bgPID int
	waitFor(t, func() bool {
		raw, _ := os.ReadFile(bg)
		n, err := strconv.Atoi(strings.TrimSpace(string(raw)))
		bgPID = n
		return err == nil
	})
	_ = holder.Process.Signal(syscall.SIGKILL)
	_ = holder.Wait()

	verdict := filepath.Join(dir, "verdict")
	check := fmt.Sprintf("if kill -0 %d 2>/dev/null && ! grep -q '^[^)]*) Z' /proc/%d/stat; then echo running; else echo gone; fi > %s", bgPID, bgPID, verdict)
	deadline := time.Now().Add(20 * time.Second)
	for {
		c := thin(server, "--no-wait", r, "--", "sh", "-c", check)
		out, err := c.CombinedOutput()
		if err == nil {
			break
		}
		if c.ProcessState.ExitCode() != 75 || time.Now().After(deadline) {
			t.Fatalf("locksmith-exec after its holder's SIGKILL: %v, %s", err, out)
		}
		time.Sleep(20 * time.Millisecond)
	}
	raw, _ := os.ReadFile(verdict)
	if got := strings.TrimSpace(string(raw)); got != "gone" {
		t.Fatalf("the killed holder's background process was %s when the lock passed on", got)
	}
}

// TestThinClientExitCodes: a conflict exits 75 (or --conflict-exit-code)
// without running the command; usage errors and a missing server exit 2
// with one line that says what to do; the command's own code comes back.
func TestThinClientExitCodes(t *testing.T) {
	server, pid := serve(t)
	dir := t.TempDir()
	r, ready := filepath.Join(dir, "R"), filepath.Join(dir, "ready")
	holder := thin(server, "--named", "job", "--", "sh", "-c", "touch "+ready+"; sleep 120")
	if err := holder.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = holder.Process.Kill(); _ = holder.Wait() }()
	waitFor(t, func() bool { _, err := os.Stat(ready); return err == nil })

	ran := filepath.Join(dir, "ran")
	for _, tc := range []struct {
		name   string
		env    string
		args   []string
		code   int
		output string
	}{
		{"conflict", server, []string{"-n", "--named", "job", "--", "touch", ran}, 75, "by pid " + strconv.Itoa(pid)},
		{"conflict code", server, []string{"-n", "-E", "3", "--named", "job", "--", "touch", ran}, 3, "job is held"},
		{"timeout", server, []string{"-w", "0.2", "--named", "job", "--", "touch", ran}, 75, "still held"},
		{"bad mode", server, []string{"--mode", "sideways", r, "--", "touch", ran}, 2, "--mode"},
		{"no command", server, []string{r}, 2, "needs a command"},
		{"both waits", server, []string{"-n", "--wait", "1s", r, "--", "true"}, 2, "exclude each other"},
		{"no server", "", []string{r, "--", "true"}, 2, "LOCKSMITH_SERVER is not set"},
		{"bad server", "tcp://x", []string{r, "--", "true"}, 2, "unix:///path"},
		{"command's code", server, []string{r, "--", "sh", "-c", "exit 7"}, 7, ""},
	} {
		c := thin(tc.env, tc.args...)
		out, _ := c.CombinedOutput()
		if code := c.ProcessState.ExitCode(); code != tc.code || !strings.Contains(string(out), tc.output) {
			t.Errorf("%s: exit %d, %q; want %d and %q", tc.name, code, out, tc.code, tc.output)
		}
		if n := strings.Count(strings.TrimSpace(string(out)), "\n"); n > 0 {
			t.Errorf("%s: %d lines of output, want one: %q", tc.name, n+1, out)
		}
	}
	if _, err := os.Stat(ran); err == nil {
		t.Error("a command ran without the lock")
	}
}

func waitFor(t *testing.T, ok func() bool) {
	t.Helper()
	for deadline := time.Now().Add(20 * time.Second); !ok(); {
		if time.Now().After(deadline) {
			t.Fatal("timed out")
		}
		time.Sleep(10 * time.Millisecond)
	}
}
