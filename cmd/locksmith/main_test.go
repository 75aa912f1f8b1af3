package main

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/locksmithx/locksmith/internal/testbin"
)

// binDir holds locksmith and locksmith-plugin-file, built once for the
// package's tests: the tests drive the real binaries, as a user does.
var (
	binDir    string
	locksmith string
)

func TestMain(m *testing.M) {
	testbin.Main(m, map[string]string{
		"locksmith":              "./cmd/locksmith",
		"locksmith-plugin-file":  "./plugins/file/cmd/locksmith-plugin-file",
		"locksmith-plugin-redis": "./plugins/redis/cmd/locksmith-plugin-redis",
	}, func(dir string) {
		binDir, locksmith = dir, filepath.Join(dir, "locksmith")
	})
}

// env is a test's sandbox: a config that keeps the file backend's named
// locks and sessions in the test's directory.
type env struct {
	t      *testing.T
	dir    string
	config string
}

func newEnv(t *testing.T) *env {
	t.Helper()
	dir := t.TempDir()
	cfg := filepath.Join(dir, "locksmith.yaml")
	body := fmt.Sprintf("plugins:\n  file:\n    config:\n      named_dir: %s\n      session_dir: %s\n",
		filepath.Join(dir, "named"), filepath.Join(dir, "sessions"))
	if err := os.WriteFile(cfg, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
	return &env{t: t, dir: dir, config: cfg}
}

// command builds a locksmith command with the env's config.
func (e *env) command(args ...string) *exec.Cmd {
	c := exec.Command(locksmith, append([]string{"--config", e.config}, args...)...)
	c.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	return c
}

// run runs locksmith to the end (bounded by 60 s) and returns its exit
// code and combined output.
func (e *env) run(args ...string) (int, string) {
	e.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	c := e.command(args...)
	var out bytes.Buffer
	c.Stdout, c.Stderr = &out, &out
	// A process the command left behind may hold the output open.
	c.WaitDelay = 5 * time.Second
	if err := c.Start(); err != nil {
		e.t.Fatal(err)
	}
	done := make(chan struct{})
	go func() {
		select {
		case <-ctx.Done():
			_ = c.Process.Kill()
		case <-done:
		}
	}()
	_ = c.Wait()
	close(done)
	return c.ProcessState.ExitCode(), out.String()
}

// script writes an executable shell script into the env's directory.
func (e *env) script(name, body string) string {
	e.t.Helper()
	p := filepath.Join(e.dir, name)
	if err := os.WriteFile(p, []byte("#!/bin/sh\n"+body), 0o755); err != nil {
		e.t.Fatal(err)
	}
	return p
}

// alive reports whether pid is a live (not zombie) process.
func alive(pid int) bool {
	raw, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return false
	}
	s := string(raw)
	i := strings.LastIndexByte(s, ')')
	return i > 0 && i+2 < len(s) && s[i+2] != 'Z'
}

// children lists the pids whose parent is pid.
func children(pid int) []int {
	var out []int
	ents, _ := os.ReadDir("/proc")
	for _, e := range ents {
		var child int
		if _, err := fmt.Sscanf(e.Name(), "%d", &child); err != nil {
			continue
		}
		raw, err := os.ReadFile(filepath.Join("/proc", e.Name(), "stat"))
		if err != nil {
			continue
		}
		s := string(raw)
		i := strings.LastIndexByte(s, ')')
		var state string
		var ppid int
		if i < 0 {
			continue
		}
		if _, err := fmt.Sscanf(s[i+2:], "%s %d", &state, &ppid); err == nil && ppid == pid {
			out = append(out, child)
		}
	}
	return out
}

// waitExists waits up to d for path to exist.
func waitExists(t *testing.T, path string, d time.Duration) {
	t.Helper()
	deadline := time.Now().Add(d)
	for {
		if _, err := os.Stat(path); err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s did not appear within %s", path, d)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// waitFile waits up to d for path to exist and returns its content.
func waitFile(t *testing.T, path string, d time.Duration) string {
	t.Helper()
	deadline := time.Now().Add(d)
	for {
		if raw, err := os.ReadFile(path); err == nil && len(raw) > 0 {
			return string(raw)
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s did not appear within %s", path, d)
		}
		time.Sleep(5 * time.Millisecond)
	}
}
