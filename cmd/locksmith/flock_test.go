package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestFlockSpellings: flock(1)'s options and argument order work, so a
// script can swap `flock` for `locksmith exec`.
func TestFlockSpellings(t *testing.T) {
	e := newEnv(t)
	r := filepath.Join(e.dir, "R")
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"exec", r, "echo", "no", "dashes"}, "no dashes"},
		{[]string{"exec", r, "ls", "-d", e.dir}, e.dir},
		{[]string{"exec", "-s", r, "-c", "echo $LOCKSMITH_MODE"}, "shared"},
		{[]string{"exec", "--shared", r, "--command", "echo $LOCKSMITH_MODE"}, "shared"},
		{[]string{"exec", "-c", "echo before the file", r}, "before the file"},
		{[]string{"exec", "-x", "-w", "2.5", r, "--", "sh", "-c", "echo $LOCKSMITH_MODE"}, "exclusive"},
		{[]string{"exec", "-e", r, "sh", "-c", "echo $LOCKSMITH_MODE"}, "exclusive"},
		// exec's own options between RESOURCE and "--" still count.
		{[]string{"exec", r, "--mode", "shared", "--", "sh", "-c", "echo $LOCKSMITH_MODE"}, "shared"},
		{[]string{"exec", r, "echo", "-n", "--", "dashes"}, "-- dashes"},
	} {
		code, out := e.run(c.args...)
		if code != 0 || !strings.Contains(out, c.want) {
			t.Errorf("%v: exit %d, want output with %q: %s", c.args[1:], code, c.want, out)
		}
	}
	if code, out := e.run("exec", "-n", r, "-c", "exit 3"); code != 3 {
		t.Errorf("-c 'exit 3': exit %d: %s", code, out)
	}

	ready := filepath.Join(e.dir, "ready")
	holder := e.command("exec", r, "--", "sh", "-c", "touch "+ready+"; sleep 60")
	if err := holder.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = holder.Process.Kill(); _ = holder.Wait() }()
	waitExists(t, ready, 30*time.Second)
	for _, c := range []struct {
		args []string
		code int
	}{
		{[]string{"exec", "-n", r, "true"}, exitNotLocked},
		{[]string{"exec", r, "--no-wait", "--", "true"}, exitNotLocked},
		{[]string{"exec", "--nonblock", r, "true"}, exitNotLocked},
		{[]string{"exec", "-n", "-E", "9", r, "true"}, 9},
		{[]string{"exec", "-w", "0.3", r, "true"}, exitNotLocked},
		{[]string{"exec", "-w", "0", "-E", "0", r, "-c", "touch " + filepath.Join(e.dir, "ran")}, 0},
		{[]string{"exec", "--timeout", "0.2", "--conflict-exit-code", "7", r, "true"}, 7},
	} {
		if code, out := e.run(c.args...); code != c.code {
			t.Errorf("%v while held: exit %d, want %d: %s", c.args[1:], code, c.code, out)
		}
	}
	if exists(filepath.Join(e.dir, "ran")) {
		t.Error("-E 0 ran the command although the lock was not obtained")
	}
}

func TestFlockSpellingsRefuseContradictions(t *testing.T) {
	e := newEnv(t)
	r := filepath.Join(e.dir, "R")
	for _, args := range [][]string{
		{"exec", "-s", "-x", r, "true"},
		{"exec", "--mode", "shared", "-x", r, "true"},
		{"exec", "-w", "-1", r, "true"},
		{"exec", "-w", "1", "--wait", "1s", r, "true"},
		{"exec", "-c", "true", r, "extra"},
		{"exec", r, "-c", "true", "extra"},
		{"exec", "-c", "true", r, "-c", "false"},
	} {
		if code, out := e.run(args...); code != exitUsage {
			t.Errorf("%v: exit %d, want %d: %s", args[1:], code, exitUsage, out)
		}
	}
}

func exists(path string) bool {
	_, err := os.Stat(path)
	return err == nil
}
