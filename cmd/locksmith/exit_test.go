//go:build linux

package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// configWith writes a config whose file plugin is at path.
func (e *env) configWith(name, path string) string {
	e.t.Helper()
	p := filepath.Join(e.dir, name)
	if err := os.WriteFile(p, []byte(fmt.Sprintf("plugins:\n  file:\n    path: %s\n", path)), 0o644); err != nil {
		e.t.Fatal(err)
	}
	return p
}

func TestExecInvalidRequestsExit2WithoutRunning(t *testing.T) {
	e := newEnv(t)
	ran := filepath.Join(e.dir, "ran")
	for _, args := range [][]string{
		{"exec", "/", "--", "touch", ran},
		{"exec", "--conflict-exit-code", "0", "/", "--", "touch", ran},
		{"exec", "--hierarchical", "a//b", "--", "touch", ran},
		{"exec", "--conflict-exit-code", "0", "--hierarchical", "a//b", "--", "touch", ran},
		{"exec", "--named", "/etc/passwd", "--", "touch", ran},
	} {
		code, out := e.run(args...)
		if code != 2 {
			t.Errorf("%v: exit %d, want 2: %s", args, code, out)
		}
		if !strings.Contains(out, "invalid argument") {
			t.Errorf("%v: message %q does not say the request is invalid", args, out)
		}
		if _, err := os.Stat(ran); err == nil {
			t.Fatalf("%v: the command ran", args)
		}
	}
}

func TestExecPluginThatIsNotOneExits69InOneLine(t *testing.T) {
	e := newEnv(t)
	c := e.command("exec", filepath.Join(e.dir, "R"), "--", "true")
	c.Args[2] = e.configWith("true.yaml", "/bin/true")
	out, _ := c.CombinedOutput()
	if code := c.ProcessState.ExitCode(); code != 69 {
		t.Fatalf("exit %d, want 69: %s", code, out)
	}
	var msgs []string
	for _, l := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		if strings.HasPrefix(l, "locksmith: ") {
			msgs = append(msgs, l)
		}
	}
	if len(msgs) != 1 || !strings.Contains(msgs[0], "/bin/true") || strings.Contains(string(out), "Additional notes") {
		t.Fatalf("want one line naming the plugin, got:\n%s", out)
	}
}

// holdInBackground runs an exec that holds r until the test ends (or stop
// is called): a state file with no holder is removed once idle, so a test
// that damages one keeps it held.
func holdInBackground(t *testing.T, e *env, r string) (stop func()) {
	t.Helper()
	ready := filepath.Join(e.dir, "held-"+filepath.Base(r))
	holder := e.command("exec", r, "--", "sh", "-c", "touch "+ready+"; sleep 120")
	holder.WaitDelay = 5 * time.Second
	if err := holder.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { _ = holder.Wait(); close(done) }()
	stop = func() { _ = holder.Process.Kill(); <-done }
	t.Cleanup(stop)
	waitExists(t, ready, 30*time.Second)
	return stop
}

func TestExecPermanentBackendFailureExits2(t *testing.T) {
	e := newEnv(t)
	r := filepath.Join(e.dir, "R")
	holdInBackground(t, e, r)
	corrupt(t, r+".locksmith")
	ran := filepath.Join(e.dir, "ran")
	code, out := e.run("exec", "--conflict-exit-code", "0", r, "--", "touch", ran)
	if code != 2 || !strings.Contains(out, "retrying will not help") || !strings.Contains(out, "locksmith repair "+r) {
		t.Fatalf("corrupt state: exit %d, want 2 with a repair hint: %s", code, out)
	}
	if _, err := os.Stat(ran); err == nil {
		t.Fatal("the command ran")
	}
}

// corrupt overwrites the start of a state file with garbage.
func corrupt(t *testing.T, path string) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.WriteAt([]byte(strings.Repeat("\xa5garbage", 64)), 8); err != nil {
		t.Fatal(err)
	}
}

func TestMessagesKeepPathsAndSayThePrefixOnce(t *testing.T) {
	e := newEnv(t)
	// /proc takes no state file: the path in the message must survive.
	code, out := e.run("exec", "/proc/locksmith-test", "--", "true")
	if code == 0 || !strings.Contains(out, "/proc/locksmith-test.locksmith") {
		t.Errorf("exit %d, message mangles the state file's path: %s", code, out)
	}
	r := filepath.Join(e.dir, "R")
	ready := filepath.Join(e.dir, "ready")
	holder := e.command("exec", "--ttl", "3s", r, "--", "sh", "-c", "touch "+ready+"; sleep 30")
	var buf strings.Builder
	holder.Stderr = &buf
	if err := holder.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = holder.Process.Kill(); _ = holder.Wait() }()
	waitExists(t, ready, 10*time.Second)
	loseSession(t, e, holder.Process.Pid)
	_ = holder.Wait()
	if s := buf.String(); !strings.Contains(s, "lock lost") || strings.Contains(s, "locksmith: locksmith:") {
		t.Fatalf("lost lock message:\n%s", s)
	}
}

func TestExecDanglingSymlinkIsOneLock(t *testing.T) {
	e := newEnv(t)
	dl := filepath.Join(e.dir, "dl")
	if err := os.Symlink("tgt", dl); err != nil {
		t.Fatal(err)
	}
	ready := filepath.Join(e.dir, "ready")
	holder := e.command("exec", dl, "--", "sh", "-c", "echo x > "+dl+"; touch "+ready+"; sleep 30")
	if err := holder.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = holder.Process.Kill(); _ = holder.Wait() }()
	waitExists(t, ready, 10*time.Second)
	for _, name := range []string{dl, filepath.Join(e.dir, "tgt")} {
		if code, out := e.run("exec", "--no-wait", name, "--", "true"); code != 75 {
			t.Errorf("%s while %s is held: exit %d, want 75: %s", name, dl, code, out)
		}
	}
}

func TestExecHardLinksAreSeparateLocks(t *testing.T) {
	e := newEnv(t)
	a, b := filepath.Join(e.dir, "a"), filepath.Join(e.dir, "b")
	if err := os.WriteFile(a, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Link(a, b); err != nil {
		t.Fatal(err)
	}
	ready := filepath.Join(e.dir, "ready")
	holder := e.command("exec", a, "--", "sh", "-c", "touch "+ready+"; sleep 30")
	if err := holder.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = holder.Process.Kill(); _ = holder.Wait() }()
	waitExists(t, ready, 10*time.Second)
	if code, out := e.run("exec", "--no-wait", b, "--", "true"); code != 0 {
		t.Fatalf("a hard link of a held file: exit %d, want 0 (its own lock): %s", code, out)
	}
}

func TestCheckAndRepair(t *testing.T) {
	e := newEnv(t)
	r := filepath.Join(e.dir, "R")
	stop := holdInBackground(t, e, r)
	if code, out := e.run("check", r); code != 0 || !strings.Contains(out, "no problem found") {
		t.Fatalf("check of sound state: exit %d: %s", code, out)
	}
	if code, out := e.run("check"); code != 0 {
		t.Fatalf("check of every resource: exit %d: %s", code, out)
	}
	corrupt(t, r+".locksmith")
	code, out := e.run("check", r)
	if code != 1 || !strings.Contains(out, r+".locksmith") || !strings.Contains(out, "locksmith repair") {
		t.Fatalf("check of corrupt state: exit %d, want 1 naming the file: %s", code, out)
	}
	if code, out := e.run("check", r, "--json"); code != 1 || !strings.Contains(out, `"path": "`+r+`.locksmith"`) || !strings.Contains(out, `"repaired": false`) {
		t.Fatalf("check --json: exit %d: %s", code, out)
	}
	if code, out := e.run("repair", r); code != 0 || !strings.Contains(out, "repaired: "+r) {
		t.Fatalf("repair: exit %d: %s", code, out)
	}
	if code, out := e.run("check", r); code != 0 {
		t.Fatalf("check after repair: exit %d: %s", code, out)
	}
	stop() // repair may keep the holder's entry: let it go
	if code, out := e.run("exec", r, "--", "true"); code != 0 {
		t.Fatalf("exec after repair: exit %d: %s", code, out)
	}
	if code, out := e.run("repair"); code != 2 {
		t.Fatalf("repair without RESOURCE: exit %d, want 2: %s", code, out)
	}
}

func TestExecUnreachableBackendIsNotAConflict(t *testing.T) {
	e := newEnv(t)
	cfg := filepath.Join(e.dir, "down.yaml")
	body := fmt.Sprintf("backend: redis\nplugins:\n  redis:\n    path: %s\n    config: { addrs: [\"127.0.0.1:1\"] }\n", filepath.Join(binDir, "locksmith-plugin-redis"))
	if err := os.WriteFile(cfg, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
	ran := filepath.Join(e.dir, "ran")
	c := e.command("exec", "--conflict-exit-code", "0", filepath.Join(e.dir, "R"), "--", "touch", ran)
	c.Args[2] = cfg
	out, _ := c.CombinedOutput()
	if code := c.ProcessState.ExitCode(); code != 75 {
		t.Fatalf("exit %d, want 75 (--conflict-exit-code is for conflicts only): %s", code, out)
	}
	if _, err := os.Stat(ran); err == nil {
		t.Fatal("the command ran")
	}
}

func TestExecWaiterWhoseSessionDiesSaysWhy(t *testing.T) {
	e := newEnv(t)
	r := filepath.Join(e.dir, "R")
	ready := filepath.Join(e.dir, "ready")
	holder := e.command("exec", r, "--", "sh", "-c", "touch "+ready+"; sleep 60")
	if err := holder.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = holder.Process.Kill(); _ = holder.Wait() }()
	waitExists(t, ready, 10*time.Second)
	ran := filepath.Join(e.dir, "ran")
	w := e.command("exec", r, "--", "touch", ran)
	var buf strings.Builder
	w.Stdout, w.Stderr = &buf, &buf
	w.WaitDelay = 5 * time.Second
	if err := w.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { _ = w.Wait(); close(done) }()
	defer func() { _ = w.Process.Kill(); <-done }()
	waitFor(t, 10*time.Second, func() bool {
		code, out := e.run("status", r)
		return code == 0 && strings.Contains(out, "1 waiter(s)")
	})
	loseSession(t, e, w.Process.Pid)
	select {
	case <-done:
	case <-time.After(20 * time.Second):
		t.Fatal("the waiter did not end after its session was lost")
	}
	var last string
	for _, l := range strings.Split(strings.TrimSpace(buf.String()), "\n") {
		if strings.HasPrefix(l, "locksmith: ") {
			last = l
		}
	}
	if code := w.ProcessState.ExitCode(); code != 75 {
		t.Errorf("exit %d, want 75: %s", code, buf.String())
	}
	if strings.HasSuffix(last, "context canceled") || !strings.Contains(last, "not obtained") {
		t.Errorf("message %q does not say why the wait ended", last)
	}
	if _, err := os.Stat(ran); err == nil {
		t.Fatal("the command ran")
	}
}
