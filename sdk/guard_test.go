//go:build linux

package sdk

import (
	"errors"
	"os/exec"
	"syscall"
	"testing"
	"time"

	"github.com/locksmithx/locksmith/internal/procgroup"
)

func TestGuardSetKillsEveryProcessOfItsGroups(t *testing.T) {
	// A group whose leader leaves a child behind: the child runs on in
	// the group after the leader is gone.
	c := exec.Command("sh", "-c", "sleep 30 & sleep 30 & wait")
	c.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := c.Start(); err != nil {
		t.Fatal(err)
	}
	pgid := c.Process.Pid
	waited := make(chan struct{})
	go func() { _ = c.Wait(); close(waited) }()
	defer func() { _ = syscall.Kill(-pgid, syscall.SIGKILL) }()
	deadline := time.Now().Add(5 * time.Second)
	for !procgroup.Runs(pgid) {
		if time.Now().After(deadline) {
			t.Fatal("group never ran")
		}
		time.Sleep(5 * time.Millisecond)
	}

	g := newGuardSet()
	if err := g.set([]int64{int64(pgid)}); err != nil {
		t.Fatal(err)
	}
	if !g.active() {
		t.Fatal("guard set not active after set")
	}
	g.killAll(GuardWait)
	if procgroup.Runs(pgid) {
		t.Fatalf("a process of group %d still runs after killAll", pgid)
	}
	if g.active() {
		t.Fatal("guard set still active after killAll")
	}
	<-waited
}

func TestGuardSetRefusesGroupsItMustNotKill(t *testing.T) {
	g := newGuardSet()
	own, _ := syscall.Getpgid(syscall.Getppid())
	for _, p := range []int64{0, 1, -5, int64(syscall.Getpgrp()), int64(own)} {
		if err := g.set([]int64{p}); !errors.Is(err, ErrInvalidArgument) {
			t.Errorf("set(%d): %v, want ErrInvalidArgument", p, err)
		}
	}
	if g.active() {
		t.Fatal("a refused set left groups guarded")
	}
}
