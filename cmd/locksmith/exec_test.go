package main

import (
	"bufio"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

func TestExecNoLostUpdateAcrossProcesses(t *testing.T) {
	incrementAcross(t, []*env{newEnv(t)}, 8, 25, func(counter string) []string { return []string{counter} })
}

// incrementAcross runs procs processes, each doing runs `locksmith exec`
// increments of one counter file, process p with envs[p%len(envs)] and
// the lock arguments lock(counter) before "--". It fails on a lost update,
// a failed run, or fencing tokens that do not strictly increase in the
// order the increments ran.
func incrementAcross(t *testing.T, envs []*env, procs, runs int, lock func(counter string) []string) {
	t.Helper()
	dir := t.TempDir()
	counter, tokens := filepath.Join(dir, "counter"), filepath.Join(dir, "tokens")
	if err := os.WriteFile(counter, []byte("0\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	inc := envs[0].script("increment", `n=$(cat "$1"); echo $((n+1)) > "$1"; echo "$LOCKSMITH_FENCING_TOKEN" >> "$2"`+"\n")
	var wg sync.WaitGroup
	fails := make(chan string, procs*runs)
	for p := 0; p < procs; p++ {
		e := envs[p%len(envs)]
		args := append(append([]string{"exec"}, lock(counter)...), "--", inc, counter, tokens)
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < runs; i++ {
				if code, out := e.run(args...); code != 0 {
					fails <- fmt.Sprintf("exit %d: %s", code, out)
				}
			}
		}()
	}
	wg.Wait()
	close(fails)
	for f := range fails {
		t.Fatal(f)
	}
	raw, _ := os.ReadFile(counter)
	if got := strings.TrimSpace(string(raw)); got != strconv.Itoa(procs*runs) {
		t.Fatalf("counter %s, want %d: updates were lost", got, procs*runs)
	}
	f, err := os.Open(tokens)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var prev int64
	n := 0
	for sc := bufio.NewScanner(f); sc.Scan(); n++ {
		tok, err := strconv.ParseInt(sc.Text(), 10, 64)
		if err != nil {
			t.Fatalf("line %d: %q is not a token", n+1, sc.Text())
		}
		if tok <= prev {
			t.Fatalf("line %d: token %d after %d: not strictly increasing in run order", n+1, tok, prev)
		}
		prev = tok
	}
	if n != procs*runs {
		t.Fatalf("%d tokens recorded, want %d", n, procs*runs)
	}
}

func TestExecSharedOverlapsExclusiveSerializes(t *testing.T) {
	e := newEnv(t)
	r := filepath.Join(e.dir, "R")
	// A holder waits (bounded: $5 polls) until $4 holders are inside $1,
	// records how many are, then waits the same way until $4 holders have
	// recorded (in $2) before it leaves: shared holders must all be inside
	// together; exclusive ones one at a time (their waits run out).
	holder := e.script("holder", `await() { i=0; while [ "$(ls "$1" | wc -l)" -lt "$2" ] && [ $i -lt "$3" ]; do sleep 0.05; i=$((i+1)); done; }
mkdir "$1/$$"; await "$1" "$4" "$5"; ls "$1" | wc -l >> "$3"
mkdir "$2/$$"; await "$2" "$4" "$5"; rmdir "$1/$$"
`)
	holders := func(mode, n, polls string) []string {
		dir := t.TempDir()
		in, out, seen := filepath.Join(dir, "in"), filepath.Join(dir, "out"), filepath.Join(dir, "seen")
		for _, d := range []string{in, out} {
			if err := os.Mkdir(d, 0o755); err != nil {
				t.Fatal(err)
			}
		}
		var runs [][]string
		for i := 0; i < 4; i++ {
			runs = append(runs, []string{"exec", "--mode", mode, r, "--", holder, in, out, seen, n, polls})
		}
		runAll(t, e, runs...)
		raw, _ := os.ReadFile(seen)
		return strings.Fields(string(raw))
	}
	if got := holders("shared", "4", "400"); len(got) != 4 || slices.ContainsFunc(got, func(n string) bool { return n != "4" }) {
		t.Errorf("shared holders inside at once: %v, want all 4 together", got)
	}
	if got := holders("exclusive", "4", "4"); len(got) != 4 || slices.ContainsFunc(got, func(n string) bool { return n != "1" }) {
		t.Errorf("exclusive holders inside at once: %v, want 1 each time", got)
	}
}

func TestExecNoWaitOnHeldResource(t *testing.T) {
	e := newEnv(t)
	r := filepath.Join(e.dir, "R")
	ready := filepath.Join(e.dir, "ready")
	holder := e.command("exec", r, "--", "sh", "-c", "touch "+ready+"; sleep 120")
	if err := holder.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = holder.Process.Kill(); _ = holder.Wait() }()
	waitExists(t, ready, 10*time.Second)
	ran := filepath.Join(e.dir, "ran")
	code, out := e.run("exec", "--no-wait", r, "--", "touch", ran)
	if code != 75 {
		t.Fatalf("exit %d, want 75: %s", code, out)
	}
	if _, err := os.Stat(ran); err == nil {
		t.Fatal("the command ran without the lock")
	}
	if code, _ := e.run("exec", "--no-wait", "--conflict-exit-code", "9", r, "--", "touch", ran); code != 9 {
		t.Fatalf("--conflict-exit-code 9: exit %d", code)
	}
	if code, out := e.run("exec", "--wait", "200ms", r, "--", "touch", ran); code != 75 || !strings.Contains(out, "still held after --wait") {
		t.Fatalf("--wait 200ms: exit %d, %q", code, out)
	}
}

func TestExecKilledHolderFreesLockAndItsProcesses(t *testing.T) {
	e := newEnv(t)
	r := filepath.Join(e.dir, "R")
	childPID := filepath.Join(e.dir, "child.pid")
	holder := e.command("exec", r, "--", "sh", "-c", "echo $$ > "+childPID+"; exec sleep 30")
	if err := holder.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = holder.Process.Kill(); _ = holder.Wait() }()
	pid, _ := strconv.Atoi(strings.TrimSpace(waitFile(t, childPID, 10*time.Second)))
	kids := children(holder.Process.Pid)
	if len(kids) < 2 {
		t.Fatalf("holder has children %v; want its command and its plugin", kids)
	}

	got := filepath.Join(e.dir, "got")
	waiter := e.command("exec", "--wait", "20s", r, "--", "sh", "-c", "date +%s%N > "+got)
	if err := waiter.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = waiter.Process.Kill(); _ = waiter.Wait() }()
	time.Sleep(300 * time.Millisecond) // let the waiter queue up
	if _, err := os.Stat(got); err == nil {
		t.Fatal("waiter ran while the lock was held")
	}
	killed := time.Now()
	if err := holder.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	_ = holder.Wait()
	ns, _ := strconv.ParseInt(strings.TrimSpace(waitFile(t, got, 5*time.Second)), 10, 64)
	if took := time.Unix(0, ns).Sub(killed); took > 1500*time.Millisecond {
		t.Errorf("waiter got the lock %s after the holder was killed, want within 1.5s", took)
	}
	deadline := time.Now().Add(2 * time.Second)
	for _, k := range append(kids, pid) {
		for alive(k) {
			if time.Now().After(deadline) {
				t.Fatalf("process %d of the killed exec survived it", k)
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
}

func TestExecLostLockStopsCommand(t *testing.T) {
	e := newEnv(t)
	r := filepath.Join(e.dir, "R")
	ready, term := filepath.Join(e.dir, "ready"), filepath.Join(e.dir, "term")
	holder := e.command("exec", "--ttl", "3s", r, "--", "sh", "-c",
		"trap 'echo term > "+term+"; exit 143' TERM; touch "+ready+"; while :; do sleep 0.05; done")
	if err := holder.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = holder.Process.Kill(); _ = holder.Wait() }()
	waitExists(t, ready, 10*time.Second)
	var plugin int
	for _, k := range children(holder.Process.Pid) {
		if raw, _ := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", k)); strings.Contains(string(raw), "locksmith-plugin-file") {
			plugin = k
		}
	}
	if plugin == 0 {
		t.Fatal("no plugin process found")
	}
	// A plugin crash alone no longer costs the lock (the restarted plugin
	// adopts the session): the session file goes too, so adoption fails.
	files, _ := filepath.Glob(filepath.Join(e.dir, "sessions", "*"))
	for _, f := range files {
		_ = os.Remove(f)
	}
	if err := syscall.Kill(plugin, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	waitFile(t, term, 3*time.Second)
	done := make(chan error, 1)
	go func() { done <- holder.Wait() }()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("exec did not end after its lock was lost")
	}
	if code := holder.ProcessState.ExitCode(); code != 143 {
		t.Errorf("exit %d, want the command's 143", code)
	}
}

func TestExecEnvironmentAndExitCodes(t *testing.T) {
	e := newEnv(t)
	r := filepath.Join(e.dir, "R")
	code, out := e.run("exec", "--mode", "read", r, "--", "sh", "-c", `echo "$LOCKSMITH_RESOURCE|$LOCKSMITH_MODE|$LOCKSMITH_FENCING_TOKEN"; exit 7`)
	if code != 7 {
		t.Fatalf("exit %d, want the command's 7: %s", code, out)
	}
	parts := strings.Split(strings.TrimSpace(out), "|")
	if len(parts) != 3 || parts[0] != r || parts[1] != "shared" {
		t.Fatalf("child environment: %q", out)
	}
	if tok, err := strconv.Atoi(parts[2]); err != nil || tok <= 0 {
		t.Fatalf("fencing token %q", parts[2])
	}
	for _, args := range [][]string{
		{"exec", r},
		{"exec", r, "--"},
		{"exec", "--mode", "sharde", r, "--", "true"},
		{"exec", "--no-wait", "--wait", "1s", r, "--", "true"},
		{"exec", "--meta", "novalue", r, "--", "true"},
		{"exec", "--bogus", r, "--", "true"},
		{"frobnicate"},
	} {
		if code, out := e.run(args...); code != 2 {
			t.Errorf("%v: exit %d, want 2 (%s)", args, code, out)
		}
	}
	if code, _ := e.run("exec", r, "--", "/nonexistent/cmd"); code != 127 {
		t.Errorf("missing command: exit %d, want 127", code)
	}
}

func TestChecksumMismatchRefusesPlugin(t *testing.T) {
	e := newEnv(t)
	cfg := filepath.Join(e.dir, "bad.yaml")
	plugin := filepath.Join(binDir, "locksmith-plugin-file")
	want := strings.Repeat("0f", 32)
	if err := os.WriteFile(cfg, []byte(fmt.Sprintf("plugins:\n  file:\n    path: %s\n    sha256: %s\n", plugin, want)), 0o644); err != nil {
		t.Fatal(err)
	}
	ran := filepath.Join(e.dir, "ran")
	c := e.command("exec", filepath.Join(e.dir, "R"), "--", "touch", ran)
	c.Args[2] = cfg
	out, _ := c.CombinedOutput()
	if code := c.ProcessState.ExitCode(); code != 2 {
		t.Fatalf("exit %d, want 2: %s", code, out)
	}
	for _, s := range []string{`"file"`, want, "actual"} {
		if !strings.Contains(string(out), s) {
			t.Errorf("message %q does not name %s", out, s)
		}
	}
	if _, err := os.Stat(ran); err == nil {
		t.Fatal("command ran")
	}
}

func TestStatusAndPlugins(t *testing.T) {
	e := newEnv(t)
	r := filepath.Join(e.dir, "R")
	ready := filepath.Join(e.dir, "ready")
	holder := e.command("exec", "--meta", "job=nightly", r, "--", "sh", "-c", "touch "+ready+"; sleep 30")
	if err := holder.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = holder.Process.Kill(); _ = holder.Wait() }()
	waitExists(t, ready, 10*time.Second)
	code, out := e.run("status", r, "--json")
	if code != 0 || !strings.Contains(out, fmt.Sprintf(`"pid": %d`, holder.Process.Pid)) || !strings.Contains(out, `"job": "nightly"`) {
		t.Fatalf("status --json: exit %d\n%s", code, out)
	}
	code, out = e.run("status", r)
	if code != 0 || !strings.Contains(out, "1 holder(s), 0 waiter(s)") || !strings.Contains(out, "exclusive") {
		t.Fatalf("status: exit %d\n%s", code, out)
	}
	code, out = e.run("plugins")
	if code != 0 || !strings.Contains(out, "file *") || !strings.Contains(out, "ok") || !strings.Contains(out, filepath.Join(binDir, "locksmith-plugin-file")) {
		t.Fatalf("plugins: exit %d\n%s", code, out)
	}
	code, out = e.run("version")
	if code != 0 || !strings.HasPrefix(out, "locksmith ") {
		t.Fatalf("version: exit %d %q", code, out)
	}
}

func TestDemoVerifiesItsRuns(t *testing.T) {
	for _, tc := range []struct {
		name  string
		extra []string
		want  string
	}{
		{"own host per exec", nil, "(backend: "},
		{"through one server", []string{"--agent"}, "the server granted 12 of the 12 locks"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t)
			code, out := e.run(append([]string{"demo", "--workers", "3", "--runs", "4", "--dir", e.dir}, tc.extra...)...)
			if code != 0 {
				t.Fatalf("demo: exit %d\n%s", code, out)
			}
			for _, want := range []string{tc.want, "100%  12/12 runs", "counter: 12 of 12 expected  ok", "strictly increasing", "handoff"} {
				if !strings.Contains(out, want) {
					t.Errorf("demo output lacks %q:\n%s", want, out)
				}
			}
			if raw, _ := os.ReadFile(filepath.Join(e.dir, "counter")); strings.TrimSpace(string(raw)) != "12" {
				t.Fatalf("counter file: %q", raw)
			}
		})
	}
}

func TestExecForwardsSignals(t *testing.T) {
	e := newEnv(t)
	ready, got := filepath.Join(e.dir, "ready"), filepath.Join(e.dir, "got")
	c := e.command("exec", filepath.Join(e.dir, "R"), "--", "sh", "-c",
		"trap 'echo usr1 > "+got+"' USR1; trap 'exit 7' TERM; touch "+ready+"; while :; do sleep 0.05; done")
	if err := c.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = c.Process.Kill(); _ = c.Wait() }()
	waitExists(t, ready, 10*time.Second)
	if err := c.Process.Signal(syscall.SIGUSR1); err != nil {
		t.Fatal(err)
	}
	if s := strings.TrimSpace(waitFile(t, got, 3*time.Second)); s != "usr1" {
		t.Fatalf("command saw %q", s)
	}
	if err := c.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	_ = c.Wait()
	if code := c.ProcessState.ExitCode(); code != 7 {
		t.Fatalf("exit %d after SIGTERM was forwarded, want the command's 7", code)
	}
}
