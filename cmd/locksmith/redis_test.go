package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/locksmithx/locksmith/internal/redistest"
)

// newRedisEnv is an env whose config selects the Redis backend on srv.
// builtin picks the plugin served by the locksmith binary itself instead of
// the standalone one beside it.
func newRedisEnv(t *testing.T, srv *redistest.Server, name string, builtin bool) *env {
	t.Helper()
	e := newEnv(t)
	e.config = filepath.Join(e.dir, name+".yaml")
	body := fmt.Sprintf("backend: redis\nlease: { ttl: 3s }\nplugins:\n  redis:\n    config: { addrs: [%q] }\n", srv.Addr)
	if builtin {
		body = fmt.Sprintf("backend: redis\nlease: { ttl: 3s }\nplugins:\n  redis:\n    path: %s\n    args: [plugin, serve, redis]\n    config: { addrs: [%q] }\n", locksmith, srv.Addr)
	}
	if err := os.WriteFile(e.config, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
	return e
}

func TestRedisExecNoLostUpdateAcrossTwoHosts(t *testing.T) {
	redistest.Require(t)
	srv := redistest.Start(t)
	// Two hosts' worth of processes: each group has its own config and
	// plugin binary; they share the Redis server and the counter.
	hosts := []*env{newRedisEnv(t, srv, "host-a", false), newRedisEnv(t, srv, "host-b", true)}
	incrementAcross(t, hosts, 8, 25, func(string) []string { return []string{"--named", "counter"} })
}

func TestRedisKilledStopsHolders(t *testing.T) {
	redistest.Require(t)
	srv := redistest.Start(t)
	e := newRedisEnv(t, srv, "host", false)
	ready, term := filepath.Join(e.dir, "ready"), filepath.Join(e.dir, "term")
	holder := e.command("exec", "--named", "job", "--", "sh", "-c",
		"trap 'echo term > "+term+"; exit 143' TERM; touch "+ready+"; while :; do sleep 0.05; done")
	var out strings.Builder
	holder.Stderr = &out
	if err := holder.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = holder.Process.Kill(); _ = holder.Wait() }()
	waitExists(t, ready, 10*time.Second)
	killed := time.Now()
	srv.Kill()
	// The lease (3s) must be given up, and the command stopped, within it.
	waitFile(t, term, 3*time.Second)
	if took := time.Since(killed); took > 3*time.Second {
		t.Errorf("command stopped %s after Redis died; the lease is 3s", took)
	}
	done := make(chan error, 1)
	go func() { done <- holder.Wait() }()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("exec did not end after its lock was lost")
	}
	if !strings.Contains(out.String(), "lock lost") {
		t.Errorf("exec did not say the lock was lost: %s", out.String())
	}
	// With Redis down, a new exec fails clearly, without running its command.
	code, msg := e.run("exec", "--named", "job", "--", "touch", filepath.Join(e.dir, "ran"))
	if code != 75 || !strings.Contains(msg, srv.Addr) {
		t.Errorf("exec with Redis down: exit %d, %q (want 75 and the address)", code, msg)
	}
	if _, err := os.Stat(filepath.Join(e.dir, "ran")); err == nil {
		t.Error("command ran without a lock")
	}
}

func TestRedisRestartWithAOFKeepsTokensIncreasing(t *testing.T) {
	redistest.Require(t)
	srv := redistest.Start(t, redistest.WithAOF("always"))
	e := newRedisEnv(t, srv, "host", false)
	token := func() int64 {
		t.Helper()
		code, out := e.run("exec", "--named", "fenced", "--", "sh", "-c", `echo "$LOCKSMITH_FENCING_TOKEN"`)
		if code != 0 {
			t.Fatalf("exec: exit %d: %s", code, out)
		}
		tok, err := strconv.ParseInt(strings.TrimSpace(out), 10, 64)
		if err != nil {
			t.Fatalf("token %q", out)
		}
		return tok
	}
	before := token()
	_ = token()
	last := token()
	srv.Kill()
	srv.Restart()
	after := token()
	if after <= last || last <= before {
		t.Fatalf("tokens %d, %d, then %d after a restart: must keep increasing", before, last, after)
	}
}

func TestRedisWithoutPersistenceSaysSo(t *testing.T) {
	redistest.Require(t)
	srv := redistest.Start(t)
	e := newRedisEnv(t, srv, "host", false)
	code, out := e.run("exec", "--named", "w", "--", "true")
	if code != 0 || !strings.Contains(out, "plugin cannot guarantee") || !strings.Contains(out, "appendonly") {
		t.Errorf("exec on a Redis without AOF: exit %d, log %q: want a start-up warning", code, out)
	}
	code, out = e.run("plugins")
	if code != 0 || !strings.Contains(out, "warning: redis:") {
		t.Errorf("plugins on a Redis without AOF: exit %d\n%s", code, out)
	}
	aof := newRedisEnv(t, redistest.Start(t, redistest.WithAOF("always")), "durable", false)
	if code, out := aof.run("exec", "--named", "w", "--", "true"); code != 0 || strings.Contains(out, "plugin cannot guarantee") {
		t.Errorf("exec on a Redis with appendfsync always: exit %d, log %q: want no warning", code, out)
	}
}
