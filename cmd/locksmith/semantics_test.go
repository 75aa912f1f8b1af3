package main

import (
	"bufio"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// span is one command's run under a lock, as it logged it.
type span struct {
	tag        string
	start, end int64
}

// spanScript logs "TAG START END" for a command that sleeps for secs.
func spanScript(e *env) string {
	return e.script("span", `s=$(date +%s%N); sleep "$3"; echo "$2 $s $(date +%s%N)" >> "$1"`+"\n")
}

func readSpans(t *testing.T, path string) []span {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out []span
	for sc := bufio.NewScanner(f); sc.Scan(); {
		var s span
		if _, err := fmt.Sscanf(sc.Text(), "%s %d %d", &s.tag, &s.start, &s.end); err != nil {
			t.Fatalf("log line %q: %v", sc.Text(), err)
		}
		out = append(out, s)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].start < out[j].start })
	return out
}

func overlap(a, b span) bool { return a.start < b.end && b.start < a.end }

// runAll starts every argument list at once and waits for all.
func runAll(t *testing.T, e *env, runs ...[]string) {
	t.Helper()
	var wg sync.WaitGroup
	for _, args := range runs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if code, out := e.run(args...); code != 0 {
				t.Errorf("%v: exit %d: %s", args, code, out)
			}
		}()
	}
	wg.Wait()
}

func TestExecUpdateModeSerializesWhileReadersOverlap(t *testing.T) {
	e := newEnv(t)
	r, log, sp := filepath.Join(e.dir, "R"), filepath.Join(e.dir, "log"), spanScript(e)
	runAll(t, e,
		[]string{"exec", "--mode", "update", r, "--", sp, log, "update", "1"},
		[]string{"exec", "--mode", "update", r, "--", sp, log, "update", "1"},
		[]string{"exec", "--mode", "shared", r, "--", sp, log, "shared", "1"},
		[]string{"exec", "--mode", "shared", r, "--", sp, log, "shared", "1"},
	)
	spans := readSpans(t, log)
	var updates, shared []span
	for _, s := range spans {
		if s.tag == "update" {
			updates = append(updates, s)
		} else {
			shared = append(shared, s)
		}
	}
	if len(updates) != 2 || len(shared) != 2 {
		t.Fatalf("spans: %+v", spans)
	}
	if overlap(updates[0], updates[1]) {
		t.Fatal("two update holders ran at once")
	}
	for _, s := range shared {
		if !overlap(s, updates[0]) && !overlap(s, updates[1]) {
			t.Errorf("a shared holder never overlapped an update holder: %+v vs %+v", s, updates)
		}
	}
}

func TestExecSemaphoreLimit(t *testing.T) {
	e := newEnv(t)
	slots := filepath.Join(e.dir, "slots")
	if err := os.Mkdir(slots, 0o755); err != nil {
		t.Fatal(err)
	}
	seen := filepath.Join(e.dir, "seen")
	// Each holder waits (bounded) until a second one holds beside it, so
	// that two holders at once is seen however slowly processes start.
	holder := e.script("holder", `mkdir "$1/$$"; i=0; while [ "$(ls "$1" | wc -l)" -lt 2 ] && [ $i -lt 100 ]; do sleep 0.05; i=$((i+1)); done; `+
		`ls "$1" | wc -l >> "$2"; sleep 0.2; ls "$1" | wc -l >> "$2"; rmdir "$1/$$"`+"\n")
	var runs [][]string
	for i := 0; i < 4; i++ {
		runs = append(runs, []string{"exec", "--limit", "2", "--named", "pool", "--", holder, slots, seen})
	}
	runAll(t, e, runs...)
	raw, _ := os.ReadFile(seen)
	most := 0
	for _, l := range strings.Fields(string(raw)) {
		n, _ := strconv.Atoi(l)
		most = max(most, n)
	}
	if most > 2 {
		t.Fatalf("%d holders at once under --limit 2", most)
	}
	if most < 2 {
		t.Errorf("never 2 holders at once (max %d): the semaphore did not admit two", most)
	}
	if code, out := e.run("exec", "--limit", "2", "--mode", "exclusive", "--named", "pool", "--", "true"); code != 2 {
		t.Errorf("--limit with --mode exclusive: exit %d, %s", code, out)
	}
}

func TestExecHierarchy(t *testing.T) {
	e := newEnv(t)
	log, sp := filepath.Join(e.dir, "log"), spanScript(e)
	ready := filepath.Join(e.dir, "ready")
	holder := e.command("exec", "--hierarchical", "a/b/c", "--", "sh", "-c", "touch "+ready+"; "+sp+" "+log+" abc 1")
	if err := holder.Start(); err != nil {
		t.Fatal(err)
	}
	waitExists(t, ready, 10*time.Second)
	if code, out := e.run("exec", "--hierarchical", "--wait", "20s", "a", "--", sp, log, "a", "0"); code != 0 {
		t.Fatalf("X on a: exit %d: %s", code, out)
	}
	if err := holder.Wait(); err != nil {
		t.Fatalf("holder of a/b/c: %v", err)
	}
	spans := readSpans(t, log)
	if len(spans) != 2 || spans[0].tag != "abc" || spans[1].tag != "a" || spans[1].start < spans[0].end {
		t.Fatalf("X on a did not wait for the X holder of a/b/c: %+v", spans)
	}
	log2 := filepath.Join(e.dir, "log2")
	runAll(t, e,
		[]string{"exec", "--hierarchical", "a/b", "--", sp, log2, "ab", "1"},
		[]string{"exec", "--hierarchical", "a/c", "--", sp, log2, "ac", "1"},
	)
	if s := readSpans(t, log2); len(s) != 2 || !overlap(s[0], s[1]) {
		t.Fatalf("siblings a/b and a/c did not run together: %+v", s)
	}
}

func TestTreeCommand(t *testing.T) {
	e := newEnv(t)
	ready := filepath.Join(e.dir, "ready")
	holder := e.command("exec", "--hierarchical", "jobs/nightly/report", "--", "sh", "-c", "touch "+ready+"; sleep 30")
	if err := holder.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = holder.Process.Kill(); _ = holder.Wait() }()
	waitExists(t, ready, 10*time.Second)
	code, out := e.run("tree")
	if code != 0 {
		t.Fatalf("tree: exit %d: %s", code, out)
	}
	for _, want := range []string{"jobs  [held IX", "  nightly  [held IX", "    report  [held exclusive by pid " + strconv.Itoa(holder.Process.Pid)} {
		if !strings.Contains(out, want) {
			t.Errorf("tree output lacks %q:\n%s", want, out)
		}
	}
}
