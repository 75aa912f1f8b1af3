package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/locksmithx/locksmith/internal/redistest"
)

// TestPluginCrashKeepsLock: kill -9 of the plugin of an exec that holds a
// lock, while another exec waits for it, never lets the waiter run while
// the holder's command runs. The holder's worker ignores SIGTERM and keeps
// writing its name into an owner file; the waiter writes its own, waits,
// and records what the file says then, and whether the worker is alive.
func TestPluginCrashKeepsLock(t *testing.T) {
	t.Run("file", func(t *testing.T) {
		e := newEnv(t)
		testPluginCrashKeepsLock(t, e, []string{filepath.Join(e.dir, "R")}, "locksmith-plugin-file")
	})
	t.Run("redis", func(t *testing.T) {
		redistest.Require(t)
		srv := redistest.Start(t)
		testPluginCrashKeepsLock(t, newRedisEnv(t, srv, "host", false), []string{"--named", "R"}, "locksmith-plugin-redis")
	})
}

func testPluginCrashKeepsLock(t *testing.T, e *env, resource []string, pluginName string) {
	owner, ready := filepath.Join(e.dir, "owner"), filepath.Join(e.dir, "ready")
	workerPID, seen, overlap := filepath.Join(e.dir, "worker.pid"), filepath.Join(e.dir, "seen"), filepath.Join(e.dir, "overlap")
	holderArgs := append(append([]string{"exec"}, resource...), "--", "sh", "-c",
		"trap '' TERM; echo $$ > "+workerPID+"; touch "+ready+"; while :; do echo holder > "+owner+"; sleep 0.02; done")
	holder := e.command(holderArgs...)
	if err := holder.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = holder.Process.Kill(); _ = holder.Wait() }()
	waitExists(t, ready, 10*time.Second)
	worker, _ := strconv.Atoi(strings.TrimSpace(waitFile(t, workerPID, 5*time.Second)))

	waiterArgs := append(append([]string{"exec", "--wait", "60s"}, resource...), "--", "sh", "-c",
		"if kill -0 "+strconv.Itoa(worker)+" 2>/dev/null; then echo worker-alive > "+overlap+"; fi; "+
			"echo waiter > "+owner+"; sleep 0.5; cat "+owner+" > "+seen)
	waiter := e.command(waiterArgs...)
	var waiterOut strings.Builder
	waiter.Stdout, waiter.Stderr = &waiterOut, &waiterOut
	if err := waiter.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = waiter.Process.Kill(); _ = waiter.Wait() }()
	waitWaiting(t, e, resource)

	plugin := pluginOf(t, holder.Process.Pid, pluginName)
	if err := syscall.Kill(plugin, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	// The holder's exec restarts its plugin; until then and after, the
	// lock stays the holder's.
	deadline := time.Now().Add(15 * time.Second)
	for {
		if p := findPlugin(holder.Process.Pid, pluginName); p != 0 && p != plugin {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the holder's plugin was not restarted")
		}
		time.Sleep(10 * time.Millisecond)
	}
	// Hold on for longer than the lease TTL (3s for Redis; 15s default for
	// the file backend, whose adopted session lives on the anchor): the
	// waiter must not run while the worker lives.
	until := time.Now().Add(4 * time.Second)
	for time.Now().Before(until) {
		if _, err := os.Stat(overlap); err == nil {
			t.Fatalf("the waiter ran while the holder's worker was alive; waiter said: %s", waiterOut.String())
		}
		if _, err := os.Stat(seen); err == nil {
			t.Fatalf("the waiter ran while the holder held the lock; waiter said: %s", waiterOut.String())
		}
		if !alive(worker) {
			t.Fatal("the holder's worker was stopped: the lock was lost")
		}
		time.Sleep(20 * time.Millisecond)
	}
	// Now the holder's work ends: its exec releases, the waiter runs alone.
	if err := syscall.Kill(worker, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	got := waitFile(t, seen, 20*time.Second)
	if strings.TrimSpace(got) != "waiter" {
		t.Errorf("the waiter's owner file says %q after its run: another command wrote to it", got)
	}
	if _, err := os.Stat(overlap); err == nil {
		t.Error("the waiter ran while the holder's worker was alive")
	}
	if err := waiter.Wait(); err != nil {
		t.Errorf("waiter: %v: %s", err, waiterOut.String())
	}
}

// waitWaiting waits until resource has a waiter, as `locksmith status`
// shows it.
func waitWaiting(t *testing.T, e *env, resource []string) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for {
		_, out := e.run(append([]string{"status"}, resource...)...)
		if strings.Contains(out, "1 waiter(s)") {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("no waiter on %v: %s", resource, out)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// pluginOf returns the pid of the plugin process named name among pid's
// children.
func pluginOf(t *testing.T, pid int, name string) int {
	t.Helper()
	p := findPlugin(pid, name)
	if p == 0 {
		t.Fatalf("no %s process among the children of %d", name, pid)
	}
	return p
}

func findPlugin(pid int, name string) int {
	for _, k := range children(pid) {
		if raw, _ := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", k)); strings.Contains(string(raw), name) && alive(k) {
			return k
		}
	}
	return 0
}
