package main

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/locksmithx/locksmith/host"
	"github.com/locksmithx/locksmith/internal/redistest"
)

// chaosDurationEnv sets how long the chaos test runs on each backend (a Go
// duration, "10s" by default): `make chaos` runs it longer.
const chaosDurationEnv = "LOCKSMITH_CHAOS_DURATION"

// Chaos parameters. Every loop below is bounded by a deadline and by a
// count.
const (
	chaosProcs    = 6                // processes looping `locksmith exec`
	chaosMaxRuns  = 500              // exec runs per process, at most
	chaosRunLimit = 60 * time.Second // one exec run, at most
	chaosGrace    = 3 * time.Second  // how long past the deadline a run may wait
)

// Kill kinds: what the killer SIGKILLs of the current holder.
const (
	killExec       = "exec"       // the holder's `locksmith exec`
	killPlugin     = "plugin"     // the backend plugin process of that exec
	killCommand    = "command"    // the exec's command (the worker)
	killGrandchild = "grandchild" // a child of the command
)

var killKinds = []string{killExec, killPlugin, killCommand, killGrandchild}

// chaosWorker is the command every exec runs, with the owner file and the
// log as arguments. On entry it writes "pid token" into the owner file
// (and logs what it found there: a holder that was killed leaves its
// line behind); it starts a grandchild that keeps checking the owner file
// still names its worker (until it finds it does not), checks it itself
// while it works, waits for the grandchild, and clears the file on exit.
// Told to stop (SIGTERM, as exec does when its lock is lost), it stops
// as a real command would: it finishes what it is doing, checks once
// more, and exits 143 without clearing the file. Every check that finds
// another holder's line, and every entry that finds a previous holder
// still running, logs an "overlap" line: two holders at once. Each log
// line is one append, so lines never mix.
const chaosWorker = `owner=$1 log=$2
me="$$ $LOCKSMITH_FENCING_TOKEN"
running() {
	[ -r /proc/$1/status ] && ! grep -q '^State:[[:space:]]*[ZX]' /proc/$1/status 2>/dev/null &&
		tr '\0' ' ' < /proc/$1/cmdline 2>/dev/null | grep -q chaos-worker
}
check() {
	cur=$(cat "$owner" 2>/dev/null)
	[ "$cur" = "$me" ] && return
	echo "overlap $1 $me [$cur]" >> "$log"
	return 1
}
stop=0
trap 'stop=1' TERM
stopping() {
	[ $stop = 1 ] || return 0
	echo "term $me" >> "$log"
	sleep 0.01
	check worker
	exit 143
}
prev=$(cat "$owner" 2>/dev/null)
echo "$me" > "$owner"
echo "enter $me [$prev]" >> "$log"
if [ -n "$prev" ]; then
	set -- $prev
	if running "$1"; then echo "overlap entry $me [$prev]" >> "$log"; fi
fi
( trap - TERM; i=0; while [ $i -lt 12 ]; do check grandchild || exit; sleep 0.01; i=$((i+1)); done ) &
gc=$!
echo "spawn $me $gc" >> "$log"
i=0
while [ $i -lt 4 ]; do sleep 0.01; check worker; stopping; i=$((i+1)); done
while ! wait $gc; do stopping; kill -0 $gc 2>/dev/null || break; done
stopping
check worker
[ "$(cat "$owner" 2>/dev/null)" = "$me" ] && : > "$owner"
echo "exit $me" >> "$log"
`

// TestChaosExecKills runs many `locksmith exec` processes on one resource
// while a killer SIGKILLs, at random, the current holder's exec, its
// plugin process, its command or its command's child. Whatever is killed,
// no process of a holder may run once another holder has the lock, and
// fencing tokens rise in grant order.
func TestChaosExecKills(t *testing.T) {
	d := chaosDuration(t)
	t.Run("file", func(t *testing.T) {
		runChaos(t, newEnv(t), d)
	})
	t.Run("redis", func(t *testing.T) {
		redistest.Require(t)
		srv := redistest.Start(t)
		runChaos(t, newRedisEnv(t, srv, "chaos", false), d)
	})
}

func chaosDuration(t *testing.T) time.Duration {
	v := os.Getenv(chaosDurationEnv)
	if v == "" {
		return 10 * time.Second
	}
	d, err := time.ParseDuration(v)
	if err != nil || d <= 0 || d > time.Hour {
		t.Fatalf("%s=%q: want a duration between 0 and 1h", chaosDurationEnv, v)
	}
	return d
}

// chaos is one run's shared state.
type chaos struct {
	t      *testing.T
	e      *env
	worker string
	owner  string
	log    string
	start  time.Time

	mu      sync.Mutex
	execs   map[int]bool      // exec pids running now
	targets map[int]string    // exec pid -> kind of the kill aimed at its holder
	killed  map[string]string // holder token -> what was killed, and when
	kills   map[string]int    // kind -> kills done
	exits   map[int]int       // exec exit code -> count
	fails   []string          // exec runs that failed though nothing of theirs was killed
	late    int               // runs still waiting at the end, which gave up
}

func runChaos(t *testing.T, e *env, d time.Duration) {
	c := &chaos{
		t: t, e: e,
		worker: e.script("chaos-worker", chaosWorker),
		owner:  filepath.Join(e.dir, "owner"),
		log:    filepath.Join(e.dir, "chaos.log"),
		start:  time.Now(),
		execs:  map[int]bool{}, targets: map[int]string{}, killed: map[string]string{},
		kills: map[string]int{}, exits: map[int]int{},
	}
	deadline := c.start.Add(d)
	defer c.stopGrandchildren()

	var wg sync.WaitGroup
	for p := 0; p < chaosProcs; p++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for run := 0; run < chaosMaxRuns && time.Now().Before(deadline); run++ {
				c.runOnce(deadline)
			}
		}()
	}
	stop := make(chan struct{})
	killerDone := make(chan struct{})
	go func() {
		defer close(killerDone)
		c.killer(deadline, stop)
	}()
	wg.Wait()
	close(stop)
	<-killerDone
	c.verify()
}

// runOnce runs one exec of the worker to its end, bounded by
// chaosRunLimit. It waits for the lock until a little after deadline: a
// run still queued then gives up (exit 75), which ends the test in
// bounded time and is not a failure.
func (c *chaos) runOnce(deadline time.Time) {
	wait := max(time.Until(deadline)+chaosGrace, time.Second).Round(time.Millisecond)
	cmd := c.e.command("exec", "--named", "--wait", wait.String(), "chaos", "--", "/bin/sh", c.worker, c.owner, c.log)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		c.t.Error(err)
		return
	}
	pid := cmd.Process.Pid
	c.mu.Lock()
	c.execs[pid] = true
	c.mu.Unlock()
	done := make(chan struct{})
	go func() {
		select {
		case <-done:
		case <-time.After(chaosRunLimit):
			_ = cmd.Process.Kill()
		}
	}()
	_ = cmd.Wait()
	close(done)
	code := cmd.ProcessState.ExitCode() // -1 when killed by a signal
	c.mu.Lock()
	defer c.mu.Unlock()
	delete(c.execs, pid)
	c.exits[code]++
	if code == exitNotLocked && time.Now().After(deadline) {
		c.late++
		return
	}
	if _, hit := c.targets[pid]; !hit && code != 0 {
		c.fails = append(c.fails, fmt.Sprintf("exec %d (nothing of it killed) exited %d: %s", pid, code, strings.TrimSpace(out.String())))
	}
}

// killer SIGKILLs part of the current holder every few hundred
// milliseconds until deadline or stop.
func (c *chaos) killer(deadline time.Time, stop <-chan struct{}) {
	for n := 0; n < 10000 && time.Now().Before(deadline); n++ {
		select {
		case <-stop:
			return
		case <-time.After(time.Duration(400+rand.IntN(600)) * time.Millisecond):
		}
		c.killHolder(killKinds[rand.IntN(len(killKinds))])
	}
}

// killHolder kills the part kind of the holder the owner file names, if
// that holder is a worker of one of this test's execs and runs now.
func (c *chaos) killHolder(kind string) {
	raw, _ := os.ReadFile(c.owner)
	f := strings.Fields(string(raw))
	if len(f) != 2 {
		return
	}
	worker, _ := strconv.Atoi(f[0])
	token := f[1]
	if worker <= 0 || !alive(worker) {
		return
	}
	ex := parentOf(worker)
	c.mu.Lock()
	ours := c.execs[ex]
	_, targeted := c.targets[ex]
	c.mu.Unlock()
	if !ours || targeted {
		return
	}
	var victim int
	switch kind {
	case killExec:
		victim = ex
	case killCommand:
		victim = worker
	case killPlugin:
		for _, k := range children(ex) {
			if raw, _ := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", k)); bytes.Contains(raw, []byte(host.PluginPrefix)) {
				victim = k
			}
		}
	case killGrandchild:
		for _, k := range children(worker) {
			if raw, _ := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", k)); bytes.Contains(raw, []byte(c.worker)) {
				victim = k
			}
		}
	}
	if victim == 0 {
		return
	}
	// Recorded first: the exec may end, and be counted, before Kill
	// returns.
	c.mu.Lock()
	c.targets[ex] = kind
	c.mu.Unlock()
	if err := syscall.Kill(victim, syscall.SIGKILL); err != nil {
		c.mu.Lock()
		delete(c.targets, ex)
		c.mu.Unlock()
		return
	}
	c.mu.Lock()
	c.killed[token] = fmt.Sprintf("its %s (pid %d) was killed at +%s", kind, victim, time.Since(c.start).Round(time.Millisecond))
	c.kills[kind]++
	c.mu.Unlock()
}

// parentOf is pid's parent pid, or 0.
func parentOf(pid int) int {
	raw, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0
	}
	s := string(raw)
	i := strings.LastIndexByte(s, ')')
	var state string
	var ppid int
	if i < 0 {
		return 0
	}
	if _, err := fmt.Sscanf(s[i+2:], "%s %d", &state, &ppid); err != nil {
		return 0
	}
	return ppid
}

// stopGrandchildren kills, by pid, every grandchild the log names that
// still runs the worker script (one whose worker was killed runs on).
func (c *chaos) stopGrandchildren() {
	raw, err := os.ReadFile(c.log)
	if err != nil {
		return
	}
	for _, line := range strings.Split(string(raw), "\n") {
		f := strings.Fields(line)
		if len(f) != 4 || f[0] != "spawn" {
			continue
		}
		pid, _ := strconv.Atoi(f[3])
		if pid <= 0 || !alive(pid) {
			continue
		}
		if cmd, _ := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid)); bytes.Contains(cmd, []byte(c.worker)) {
			_ = syscall.Kill(pid, syscall.SIGKILL)
		}
	}
}
