package main

import (
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
)

// niceOf reads process pid's nice value from /proc (field 19 of stat).
func niceOf(t *testing.T, pid int) int {
	t.Helper()
	f := strings.Fields(statAfterComm(t, pid))
	n, err := strconv.Atoi(f[16])
	if err != nil {
		t.Fatalf("nice of %d: %v", pid, err)
	}
	return n
}

func statAfterComm(t *testing.T, pid int) string {
	t.Helper()
	out, err := exec.Command("cat", "/proc/"+strconv.Itoa(pid)+"/stat").Output()
	if err != nil {
		t.Fatalf("stat of %d: %v", pid, err)
	}
	s := string(out)
	return s[strings.LastIndexByte(s, ')')+1:]
}

// After the release, exec lowers its plugins' priority, not that of what
// the command left in a group of its own.
func TestYieldCPUPicksThePluginsOnly(t *testing.T) {
	plugin := exec.Command("sleep", "30")
	if err := plugin.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = plugin.Process.Kill(); _ = plugin.Wait() }()
	left := exec.Command("sleep", "30")
	left.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := left.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = left.Process.Kill(); _ = left.Wait() }()

	got := childrenInGroup(syscall.Getpgrp())
	if !slices.Contains(got, plugin.Process.Pid) || slices.Contains(got, left.Process.Pid) {
		t.Fatalf("children in this group: %v; want %d and not %d", got, plugin.Process.Pid, left.Process.Pid)
	}
	if g := processGroup(left.Process.Pid); g != left.Process.Pid {
		t.Fatalf("group of %d read as %d", left.Process.Pid, g)
	}
	renice(plugin.Process.Pid)
	if n := niceOf(t, plugin.Process.Pid); n != 19 {
		t.Fatalf("nice after renice: %d, want 19", n)
	}
	if n := niceOf(t, left.Process.Pid); n != 0 {
		t.Fatalf("the other child's nice: %d, want 0", n)
	}
}
