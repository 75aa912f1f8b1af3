package main

import (
	"bytes"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestExecManyWaitersInOrderAndQuiet: 40 exec processes (LOCKSMITH_TEST_WAITERS)
// queue for one lock behind a holder. Once the holder lets go, each gets the
// lock in turn: the fencing tokens its commands saw are strictly increasing
// in the order they ran, none overlaps another, and no exec writes a word to
// its command's streams (plugin logs once went there). The time from the
// release to the last exit is logged; bench/waiters.sh compares it with
// flock(1).
func TestExecManyWaitersInOrderAndQuiet(t *testing.T) {
	if testing.Short() {
		t.Skip("many processes")
	}
	n := 40
	if v, err := strconv.Atoi(os.Getenv("LOCKSMITH_TEST_WAITERS")); err == nil && v > 0 {
		n = v
	}
	e := newEnv(t)
	// No safety-net re-read within the test's time: a waiter that misses
	// the wake-up its predecessor's release owes it stays queued, and the
	// test fails.
	cfg, err := os.OpenFile(e.config, os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	_, err = cfg.WriteString("      poll_interval: 1m\n") // the file plugin's config ends the file
	if cerr := cfg.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		t.Fatal(err)
	}
	r := filepath.Join(e.dir, "R")
	gate := filepath.Join(e.dir, "gate")
	if err := syscall.Mkfifo(gate, 0o600); err != nil {
		t.Fatal(err)
	}
	holder := e.command("exec", r, "--", "sh", "-c", `read -r _ < "$1"`, "sh", gate)
	if err := holder.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = holder.Process.Kill(); _ = holder.Wait() }()
	waitQueued(t, e, r, 0)

	ran := filepath.Join(e.dir, "ran")
	// Each command checks that nobody else is inside, then logs its token.
	work := e.script("work", `inside=`+e.dir+`/inside
[ -e "$inside" ] && { echo overlap >> `+ran+`; exit 1; }
: > "$inside"
sleep 0.01
echo "$LOCKSMITH_FENCING_TOKEN" >> `+ran+`
rm "$inside"
`)
	type waiter struct {
		cmd         *exec.Cmd
		out, stderr bytes.Buffer
	}
	ws := make([]*waiter, n)
	for i := range ws {
		w := &waiter{cmd: e.command("exec", "--wait", "50s", r, "--", work)}
		w.cmd.Stdout, w.cmd.Stderr = &w.out, &w.stderr
		if err := w.cmd.Start(); err != nil {
			t.Fatal(err)
		}
		ws[i] = w
		defer func() { _ = w.cmd.Process.Kill(); _, _ = w.cmd.Process.Wait() }()
	}
	waitQueued(t, e, r, n)

	start := time.Now()
	if err := os.WriteFile(gate, []byte("go\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	for i, w := range ws {
		done := make(chan error, 1)
		go func() { done <- w.cmd.Wait() }()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("waiter %d: %v\n%s", i, err, w.stderr.String())
			}
		case <-time.After(time.Minute):
			t.Fatalf("waiter %d still runs a minute after the release", i)
		}
		if w.out.Len() > 0 || w.stderr.Len() > 0 {
			t.Errorf("waiter %d wrote to its command's streams: %q %q", i, w.out.String(), w.stderr.String())
		}
	}
	t.Logf("%d exec waiters: %v from the release to the last exit", n, time.Since(start))
	raw, err := os.ReadFile(ran)
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Fields(string(raw))
	if len(lines) != n {
		t.Fatalf("%d commands ran, want %d: %q", len(lines), n, lines)
	}
	last := int64(0)
	for i, l := range lines {
		tok, err := strconv.ParseInt(l, 10, 64)
		if err != nil {
			t.Fatalf("run %d: %q (two commands inside at once?)", i, l)
		}
		if tok <= last {
			t.Fatalf("run %d had token %d after %d: tokens must increase in the order the lock is held", i, tok, last)
		}
		last = tok
	}
}

// waitQueued waits until status shows the lock held with n waiters.
func waitQueued(t *testing.T, e *env, resource string, n int) {
	t.Helper()
	deadline := time.Now().Add(2 * time.Minute)
	for {
		c := e.command("status", "--json", resource)
		out, err := c.Output()
		var st struct {
			Holders []json.RawMessage `json:"holders"`
			Waiters []json.RawMessage `json:"waiters"`
		}
		if err == nil && json.Unmarshal(out, &st) == nil && len(st.Holders) == 1 && len(st.Waiters) == n {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("status of %s never showed one holder and %d waiters: %s %v", resource, n, out, err)
		}
		time.Sleep(200 * time.Millisecond)
	}
}
