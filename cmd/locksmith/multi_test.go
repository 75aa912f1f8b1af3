package main

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/locksmithx/locksmith/internal/redistest"
)

// writeMulti writes the env's config running the file backend and Redis at
// addr, with head (for example "backend: redis\n") on top.
func (e *env) writeMulti(addr, head string) {
	e.t.Helper()
	body := head + fmt.Sprintf("lease: { ttl: 3s }\nplugins:\n  file:\n    config:\n      named_dir: %s\n      session_dir: %s\n  redis:\n    config: { addrs: [%q], prefix: %q }\n",
		filepath.Join(e.dir, "named"), filepath.Join(e.dir, "sessions"), addr, filepath.Base(e.dir))
	// Written whole and renamed into place, as editors and config
	// management do, so that a watcher never reads half a file.
	tmp := e.config + ".new"
	if err := os.WriteFile(tmp, []byte(body), 0o644); err != nil {
		e.t.Fatal(err)
	}
	if err := os.Rename(tmp, e.config); err != nil {
		e.t.Fatal(err)
	}
}

// With the config running file and Redis, --backend picks the backend of
// one exec (the default stays file), and status shows each backend's queue.
func TestExecChoosesBackend(t *testing.T) {
	srv := redistest.Start(t)
	e := newEnv(t)
	e.writeMulti(srv.Addr, "backends: [file, redis]\n")
	ready := filepath.Join(e.dir, "ready")
	holder := e.command("--backend", "redis", "exec", "--named", "job", "--", "sh", "-c", "touch "+ready+"; sleep 30")
	if err := holder.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = holder.Process.Kill(); _ = holder.Wait() }()
	waitExists(t, ready, 20*time.Second)

	// Held on Redis: the file backend's lock is free, Redis's is not.
	if code, out := e.run("exec", "--named", "job", "--no-wait", "--", "true"); code != 0 {
		t.Fatalf("exec on the default (file) backend: exit %d: %s", code, out)
	}
	if code, out := e.run("--backend", "redis", "exec", "--named", "job", "--no-wait", "--", "true"); code != 75 {
		t.Fatalf("exec on redis while held there: exit %d, want 75: %s", code, out)
	}
	code, out := e.run("status", "--named", "job")
	if code != 0 || !strings.Contains(out, "job on file (revision") || !strings.Contains(out, "job on redis (revision") {
		t.Fatalf("status: exit %d:\n%s\nwant a queue per backend", code, out)
	}
	if redis := out[strings.Index(out, "job on redis"):]; !strings.Contains(redis, "1 holder(s)") {
		t.Fatalf("status on redis does not show the holder:\n%s", out)
	}
	code, out = e.run("--backend", "redis", "status", "--named", "job")
	if code != 0 || strings.Contains(out, "on file") || !strings.Contains(out, "job on redis") {
		t.Fatalf("status --backend redis: exit %d:\n%s", code, out)
	}
	code, out = e.run("--backend", "redis", "tree")
	if code != 0 || !strings.Contains(out, "job") {
		t.Fatalf("tree --backend redis: exit %d:\n%s\nwant the lock held there", code, out)
	}
	code, out = e.run("tree")
	if code != 0 || strings.Contains(out, "job") {
		t.Fatalf("tree on the default (file) backend: exit %d:\n%s\nwant nothing held", code, out)
	}
	code, out = e.run("plugins")
	if code != 0 || !regexpLine(out, `^file \*\s+backend\s+default`) || !regexpLine(out, `^redis\s+backend\s+named`) {
		t.Fatalf("plugins does not say which backend is which: exit %d\n%s", code, out)
	}
}

// regexpLine reports whether a line of out matches re.
func regexpLine(out, re string) bool {
	return regexp.MustCompile(`(?m)` + re).MatchString(out)
}
