//go:build linux

package host

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"
)

// startGroup starts `sleep 30` in a process group of its own and returns
// the group's id; the group is killed when the test ends.
func startGroup(t *testing.T) int {
	t.Helper()
	c := exec.Command("sleep", "30")
	c.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := c.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { _ = c.Wait() }()
	t.Cleanup(func() { _ = syscall.Kill(-c.Process.Pid, syscall.SIGKILL) })
	return c.Process.Pid
}

// running reports whether pid runs and is not a zombie.
func running(pid int) bool {
	raw, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return false
	}
	s := string(raw)
	i := strings.LastIndexByte(s, ')')
	return i > 0 && i+2 < len(s) && s[i+2] != 'Z'
}

func TestGuardedGroupDiesBeforeThePluginEndsItsSessions(t *testing.T) {
	dir := t.TempDir()
	h := newTestHost(t, dir)
	ctx := testCtx(t)
	l, err := h.Named(ctx, "guarded")
	if err != nil {
		t.Fatal(err)
	}
	kept, dead := startGroup(t), startGroup(t)
	unguard, err := h.GuardProcessGroup(kept)
	if err != nil {
		t.Fatal(err)
	}
	unguard()
	unguard() // a second call is harmless
	if _, err := h.GuardProcessGroup(dead); err != nil {
		t.Fatal(err)
	}
	g, err := h.defaultSlot().sup.get(ctx)
	if err != nil {
		t.Fatal(err)
	}
	// SIGTERM is what the plugin gets when its host dies (parent-death
	// signal): it kills the guarded group, then ends the sessions.
	if err := syscall.Kill(g.conn.Pid(), syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case <-l.Done():
	case <-time.After(5 * time.Second):
		t.Fatal("lease not lost 5s after its plugin was stopped")
	}
	if running(dead) {
		t.Fatalf("guarded group %d still runs once the lease is lost", dead)
	}
	if !running(kept) {
		t.Fatalf("unguarded group %d was killed", kept)
	}
}

func TestGuardSurvivesPluginRestart(t *testing.T) {
	dir := t.TempDir()
	h := newTestHost(t, dir)
	ctx := testCtx(t)
	pgid := startGroup(t)
	if _, err := h.GuardProcessGroup(pgid); err != nil {
		t.Fatal(err)
	}
	g, err := h.defaultSlot().sup.get(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := syscall.Kill(g.conn.Pid(), syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	<-g.exited
	if !running(pgid) {
		t.Fatal("a plugin killed by SIGKILL cannot have killed the group")
	}
	var g2 *generation
	waitFor(t, func() bool {
		g2, err = h.defaultSlot().sup.get(ctx)
		return err == nil && g2 != g
	})
	if err := syscall.Kill(g2.conn.Pid(), syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	waitFor(t, func() bool { return !running(pgid) })
}

func TestGuardRefusesNonGroups(t *testing.T) {
	h := newTestHost(t, t.TempDir())
	for _, p := range []int{-1, 0, 1} {
		if _, err := h.GuardProcessGroup(p); !errors.Is(err, ErrInvalidArgument) {
			t.Errorf("GuardProcessGroup(%d): %v, want ErrInvalidArgument", p, err)
		}
	}
	if _, err := h.GuardProcessGroup(syscall.Getpgrp()); !errors.Is(err, ErrInvalidArgument) {
		t.Errorf("guarding the host's own group: %v, want ErrInvalidArgument", err)
	}
}
