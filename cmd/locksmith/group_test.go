//go:build linux

package main

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// pidState is the state letter of pid in /proc ("Z" for a zombie), or
// "gone".
func pidState(pid int) string {
	raw, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return "gone"
	}
	s := string(raw)
	i := strings.LastIndexByte(s, ')')
	if i < 0 || i+2 >= len(s) {
		return "gone"
	}
	return s[i+2 : i+3]
}

// stateScript is a shell command that writes the state of the process
// whose pid is in pidFile ("gone" if none) into out: what the next holder
// of the lock sees.
func stateScript(pidFile, out string) string {
	return `p=$(cat ` + pidFile + `); s=$(cut -d')' -f2 /proc/$p/stat 2>/dev/null | cut -d' ' -f2); echo "${s:-gone}" > ` + out
}

func readPID(t *testing.T, path string) int {
	t.Helper()
	pid, err := strconv.Atoi(strings.TrimSpace(waitFile(t, path, 10*time.Second)))
	if err != nil {
		t.Fatal(err)
	}
	return pid
}

func TestExecKilledHolderTakesItsWholeGroup(t *testing.T) {
	e := newEnv(t)
	r := filepath.Join(e.dir, "R")
	pidFile := filepath.Join(e.dir, "grandchild.pid")
	// sh is exec's child; sleep is sh's, and dies with exec only through
	// the plugin's guard.
	holder := e.command("exec", r, "--", "sh", "-c", "sleep 30 & echo $! > "+pidFile+"; wait")
	if err := holder.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = holder.Process.Kill(); _ = holder.Wait() }()
	grandchild := readPID(t, pidFile)
	defer func() { _ = syscall.Kill(grandchild, syscall.SIGKILL) }()

	seen := filepath.Join(e.dir, "seen")
	waiter := e.command("exec", "--wait", "20s", r, "--", "sh", "-c", stateScript(pidFile, seen))
	if err := waiter.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = waiter.Process.Kill(); _ = waiter.Wait() }()
	if err := holder.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	_ = holder.Wait()
	if s := strings.TrimSpace(waitFile(t, seen, 10*time.Second)); s != "gone" && s != "Z" {
		t.Fatalf("the next holder ran while the killed holder's grandchild was in state %s", s)
	}
	if err := waiter.Wait(); err != nil {
		t.Fatalf("waiter: %v", err)
	}
}

func TestExecStopsWhatTheCommandLeftBehind(t *testing.T) {
	e := newEnv(t)
	r := filepath.Join(e.dir, "R")
	plain, stubborn := filepath.Join(e.dir, "plain.pid"), filepath.Join(e.dir, "stubborn.pid")
	t.Cleanup(func() {
		for _, f := range []string{plain, stubborn} {
			if raw, err := os.ReadFile(f); err == nil {
				if pid, err := strconv.Atoi(strings.TrimSpace(string(raw))); err == nil && pid > 1 {
					_ = syscall.Kill(pid, syscall.SIGKILL)
				}
			}
		}
	})
	code, out := e.run("exec", "--ttl", "3s", r, "--", "sh", "-c",
		"sleep 30 & echo $! > "+plain+"; sh -c 'trap \"\" TERM; echo $$ > "+stubborn+"; while :; do sleep 0.05; done' & "+
			"while [ ! -s "+stubborn+" ]; do sleep 0.01; done; exit 3")
	if code != 3 {
		t.Fatalf("exit %d, want the command's 3: %s", code, out)
	}
	for _, f := range []string{plain, stubborn} {
		pid := readPID(t, f)
		if s := pidState(pid); s != "gone" && s != "Z" {
			_ = syscall.Kill(pid, syscall.SIGKILL)
			t.Errorf("process %d (%s) left by the command is in state %s after exec returned", pid, filepath.Base(f), s)
		}
	}
}

func TestExecLostLockStopsTheWholeGroup(t *testing.T) {
	e := newEnv(t)
	r := filepath.Join(e.dir, "R")
	pidFile := filepath.Join(e.dir, "grandchild.pid")
	holder := e.command("exec", "--ttl", "3s", r, "--", "sh", "-c",
		"sh -c 'trap \"\" TERM; echo $$ > "+pidFile+"; while :; do sleep 0.05; done' & wait")
	holder.WaitDelay = 5 * time.Second
	if err := holder.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- holder.Wait() }()
	defer func() { _ = holder.Process.Kill(); <-done }()
	grandchild := readPID(t, pidFile)
	defer func() { _ = syscall.Kill(grandchild, syscall.SIGKILL) }()
	loseSession(t, e, holder.Process.Pid)
	select {
	case err := <-done:
		done <- err
	case <-time.After(10 * time.Second):
		t.Fatal("exec did not end after its lock was lost")
	}
	if s := pidState(grandchild); s != "gone" && s != "Z" {
		t.Fatalf("the command's grandchild is in state %s after exec ended on a lost lock", s)
	}
}

// filePluginOf is the pid of the file plugin of the exec process pid.
func filePluginOf(t *testing.T, pid int) int {
	t.Helper()
	for _, k := range children(pid) {
		if raw, _ := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", k)); strings.Contains(string(raw), "locksmith-plugin-file") {
			return k
		}
	}
	t.Fatal("no plugin process found")
	return 0
}

// loseSession ends the session of the exec process pid for good: it
// removes the session's file, so that its restarted plugin cannot adopt it,
// then SIGKILLs the plugin. (A plugin crash alone costs no lock.)
func loseSession(t *testing.T, e *env, pid int) {
	t.Helper()
	plugin := filePluginOf(t, pid)
	files, _ := filepath.Glob(filepath.Join(e.dir, "sessions", "*"))
	for _, f := range files {
		var info struct{ PID int }
		if raw, err := os.ReadFile(f); err == nil && json.Unmarshal(raw, &info) == nil && info.PID == plugin {
			if err := os.Remove(f); err != nil {
				t.Fatal(err)
			}
		}
	}
	if err := syscall.Kill(plugin, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
}

func TestExecForwardsSignalsToTheGroup(t *testing.T) {
	e := newEnv(t)
	ready, got := filepath.Join(e.dir, "ready"), filepath.Join(e.dir, "got")
	// The command survives USR1 too, so that it is the grandchild's own
	// trap that reports the signal.
	c := e.command("exec", filepath.Join(e.dir, "R"), "--", "sh", "-c",
		"trap 'echo outer > /dev/null' USR1; sh -c 'trap \"echo usr1 > "+got+"\" USR1; touch "+ready+"; while :; do sleep 0.05; done' & "+
			"while kill -0 $! 2>/dev/null; do wait; done")
	if err := c.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = c.Process.Kill(); _ = c.Wait() }()
	waitExists(t, ready, 10*time.Second)
	if err := c.Process.Signal(syscall.SIGUSR1); err != nil {
		t.Fatal(err)
	}
	if s := strings.TrimSpace(waitFile(t, got, 5*time.Second)); s != "usr1" {
		t.Fatalf("grandchild saw %q", s)
	}
}

func TestExecWaiterWithdrawsOnSignal(t *testing.T) {
	e := newEnv(t)
	r := filepath.Join(e.dir, "R")
	ready := filepath.Join(e.dir, "ready")
	holder := e.command("exec", r, "--", "sh", "-c", "touch "+ready+"; sleep 60")
	if err := holder.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = holder.Process.Kill(); _ = holder.Wait() }()
	waitExists(t, ready, 10*time.Second)
	for _, tc := range []struct {
		sig  syscall.Signal
		code int
	}{{syscall.SIGINT, 130}, {syscall.SIGTERM, 143}} {
		ran := filepath.Join(e.dir, "ran")
		w := e.command("exec", r, "--", "touch", ran)
		if err := w.Start(); err != nil {
			t.Fatal(err)
		}
		waitFor(t, 10*time.Second, func() bool {
			code, out := e.run("status", r)
			return code == 0 && strings.Contains(out, "1 waiter(s)")
		})
		if err := w.Process.Signal(tc.sig); err != nil {
			t.Fatal(err)
		}
		done := make(chan struct{})
		go func() { _ = w.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			_ = w.Process.Kill()
			t.Fatalf("%v: the waiter did not exit while the lock was held", tc.sig)
		}
		if code := w.ProcessState.ExitCode(); code != tc.code {
			t.Errorf("%v: exit %d, want %d", tc.sig, code, tc.code)
		}
		if _, err := os.Stat(ran); err == nil {
			t.Fatalf("%v: the command ran", tc.sig)
		}
		if code, out := e.run("status", r); code != 0 || !strings.Contains(out, "0 waiter(s)") {
			t.Fatalf("%v: the request is still queued: %s", tc.sig, out)
		}
	}
}

// waitFor polls cond until it holds, failing the test after d.
func waitFor(t *testing.T, d time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("condition not met within %s", d)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestExecCommandOwnsTheTerminal(t *testing.T) {
	e := newEnv(t)
	out := filepath.Join(e.dir, "out")
	// script(1) runs sh on a fresh terminal; sh runs exec in the
	// terminal's foreground group. The command reports its group and the
	// terminal's foreground group (fields 5 and 8 of its stat); sh then
	// reports both for itself, after exec returned.
	stat := e.script("stat", `cut -d')' -f2 /proc/$$/stat | cut -d' ' -f4,7`+"\n")
	inner := e.script("inner", fmt.Sprintf("%s --config %s exec %s -- %s > %s\n%s >> %s\n",
		locksmith, e.config, filepath.Join(e.dir, "R"), stat, out, stat, out))
	c := e.command()
	c.Path, c.Args = "/usr/bin/script", []string{"script", "-qec", inner, "/dev/null"}
	if msg, err := c.CombinedOutput(); err != nil {
		if _, serr := os.Stat("/usr/bin/script"); serr != nil {
			t.Skip("script(1) is not installed")
		}
		t.Fatalf("script: %v: %s", err, msg)
	}
	lines := strings.Split(strings.TrimSpace(waitFile(t, out, 10*time.Second)), "\n")
	if len(lines) != 2 {
		t.Fatalf("output %q", lines)
	}
	for i, who := range []string{"the command", "the shell after exec"} {
		f := strings.Fields(lines[i])
		if len(f) != 2 || f[0] != f[1] {
			t.Errorf("%s: group and terminal foreground group %q, want equal", who, lines[i])
		}
	}
}

func TestExecJobKilledAsAGroupTakesItsCommandsGroup(t *testing.T) {
	e := newEnv(t)
	r := filepath.Join(e.dir, "R")
	pidFile := filepath.Join(e.dir, "grandchild.pid")
	// A shell kills a job by its process group: exec's own.
	holder := e.command("exec", r, "--", "sh", "-c", "sleep 30 & echo $! > "+pidFile+"; wait")
	holder.SysProcAttr.Setpgid = true
	if err := holder.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = holder.Process.Kill(); _ = holder.Wait() }()
	grandchild := readPID(t, pidFile)
	defer func() { _ = syscall.Kill(grandchild, syscall.SIGKILL) }()
	if err := syscall.Kill(-holder.Process.Pid, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	_ = holder.Wait()
	seen := filepath.Join(e.dir, "seen")
	if code, out := e.run("exec", "--wait", "20s", r, "--", "sh", "-c", stateScript(pidFile, seen)); code != 0 {
		t.Fatalf("next holder: exit %d: %s", code, out)
	}
	if s := strings.TrimSpace(waitFile(t, seen, 5*time.Second)); s != "gone" && s != "Z" {
		t.Fatalf("the next holder ran while the killed job's grandchild was in state %s", s)
	}
}

func TestExecReapsOrphansWhileTheCommandRuns(t *testing.T) {
	e := newEnv(t)
	ready := filepath.Join(e.dir, "ready")
	// Each ( … & ) orphans a short sleep: it is re-parented to exec.
	holder := e.command("exec", filepath.Join(e.dir, "R"), "--", "sh", "-c",
		"for i in 1 2 3 4 5; do (sleep 0.05 &); done; sleep 0.5; touch "+ready+"; sleep 30")
	if err := holder.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = holder.Process.Kill(); _ = holder.Wait() }()
	waitExists(t, ready, 10*time.Second)
	zombies := func() []int {
		var z []int
		for _, k := range children(holder.Process.Pid) {
			if pidState(k) == "Z" {
				z = append(z, k)
			}
		}
		return z
	}
	deadline := time.Now().Add(10 * time.Second)
	for len(zombies()) > 0 {
		if time.Now().After(deadline) {
			t.Fatalf("exec leaves zombies %v while its command runs", zombies())
		}
		time.Sleep(20 * time.Millisecond)
	}
}
