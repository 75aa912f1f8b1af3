package main

import (
	"regexp"
	"strings"
	"testing"
)

func TestBenchReportsEveryMeasurement(t *testing.T) {
	e := newEnv(t)
	code, out := e.run("bench", "--n", "20", "--contenders", "4", "--contention-time", "300ms", "--name", "bench/test")
	if code != 0 {
		t.Fatalf("bench: exit %d, %s", code, out)
	}
	for _, row := range []string{"round trip", "acquire+release", "handoff", "contention wait (4)"} {
		if !regexp.MustCompile(regexp.QuoteMeta(row) + `\s+p50 \S+\s+p90 \S+\s+p99 \S+\s+max \S+`).MatchString(out) {
			t.Errorf("no %q row with percentiles in:\n%s", row, out)
		}
	}
	if !regexp.MustCompile(`contention: [1-9]\d* grants in`).MatchString(out) || !strings.Contains(out, "round trips") {
		t.Fatalf("bench output:\n%s", out)
	}
	// It leaves nothing held.
	if code, out := e.run("exec", "--no-wait", "--named", "bench/test", "--", "true"); code != 0 {
		t.Fatalf("the bench's lock is still held: exit %d, %s", code, out)
	}
	if code, _ := e.run("bench", "--n", "1"); code != exitUsage {
		t.Fatalf("bench --n 1: exit %d", code)
	}
}

func TestTopOnce(t *testing.T) {
	e := newEnv(t)
	code, out := e.run("top", "--iterations", "1")
	if code != 0 || !strings.Contains(out, "no locks held or awaited") || !strings.Contains(out, "backend file") {
		t.Fatalf("top: exit %d, %s", code, out)
	}
	if code, _ := e.run("top", "--interval", "1ms"); code != exitUsage {
		t.Fatalf("top --interval 1ms: exit %d", code)
	}
}
