package file

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/locksmithx/locksmith/sdk"
)

// Child processes of the multi-process tests are this test binary, run
// again with roleEnv naming what to do.
const (
	roleEnv     = "LOCKSMITH_FILE_TEST_ROLE"
	dirEnv      = "LOCKSMITH_FILE_TEST_DIR"
	resourceEnv = "LOCKSMITH_FILE_TEST_RESOURCE"
	counterEnv  = "LOCKSMITH_FILE_TEST_COUNTER"
	roundsEnv   = "LOCKSMITH_FILE_TEST_ROUNDS"
	// idleEnv sets the store's idleAfter; pauseEnv makes a counter pause
	// up to that long between rounds; fenceEnv names a file where each
	// holder checks that its token is above the last holder's.
	idleEnv  = "LOCKSMITH_FILE_TEST_IDLE"
	pauseEnv = "LOCKSMITH_FILE_TEST_PAUSE"
	fenceEnv = "LOCKSMITH_FILE_TEST_FENCE"
)

func TestMain(m *testing.M) {
	if role := os.Getenv(roleEnv); role != "" {
		if err := runRole(role); err != nil {
			fmt.Fprintf(os.Stderr, "%s: %v\n", role, err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	code := m.Run()
	if pluginDir != "" {
		_ = os.RemoveAll(pluginDir)
	}
	os.Exit(code)
}

// runRole is the body of a child process.
func runRole(role string) error {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	dir := os.Getenv(dirEnv)
	s := New()
	if d, err := time.ParseDuration(os.Getenv(idleEnv)); err == nil {
		s.idleAfter = d
	}
	if err := s.Configure(ctx, sdk.Config{
		"named_dir":      filepath.Join(dir, "named"),
		"session_dir":    filepath.Join(dir, "sessions"),
		"probe_interval": "20ms",
	}); err != nil {
		return err
	}
	defer s.Close()
	sess, err := s.OpenSession(ctx, time.Minute, map[string]string{"role": role})
	if err != nil {
		return err
	}
	go func() {
		// Keep the session alive however long a crowded machine makes the
		// child wait.
		for ctx.Err() == nil {
			time.Sleep(10 * time.Second)
			_, _ = s.KeepAlive(ctx, sess.ID)
		}
	}()
	resource := os.Getenv(resourceEnv)
	switch role {
	case "counter":
		rounds, _ := strconv.Atoi(os.Getenv(roundsEnv))
		for i := range rounds {
			key := fmt.Sprintf("%s/%d", sess.ID, i)
			p, err := acquire(ctx, s, resource, sess.ID, key)
			if err != nil {
				return fmt.Errorf("acquire round %d: %w", i, err)
			}
			if err := checkFence(os.Getenv(fenceEnv), p.CreateRev); err != nil {
				return fmt.Errorf("round %d: %w", i, err)
			}
			if err := incrementSlowly(os.Getenv(counterEnv)); err != nil {
				return err
			}
			if _, err := s.Delete(ctx, sdk.DeleteRequest{Resource: resource, Key: key, ExpectRev: p.ModRev}); err != nil {
				return fmt.Errorf("release round %d: %w", i, err)
			}
			if d, err := time.ParseDuration(os.Getenv(pauseEnv)); err == nil {
				time.Sleep(time.Duration(rand.Int64N(int64(d))))
			}
		}
		return nil
	case "waiter":
		// One round, queued behind the parent: the many-waiters test.
		p, err := s.Put(ctx, sdk.PutRequest{Resource: resource, Key: sess.ID, Session: sess.ID, WithRange: true})
		if err != nil {
			return err
		}
		fmt.Println("ready")
		if err := awaitGrant(ctx, s, resource, sess.ID, p); err != nil {
			return err
		}
		hold, _ := time.ParseDuration(os.Getenv(pauseEnv))
		if err := incrementSlowly(os.Getenv(counterEnv)); err != nil {
			return err
		}
		time.Sleep(hold)
		if _, err := s.Delete(ctx, sdk.DeleteRequest{Resource: resource, Key: sess.ID, ExpectRev: p.ModRev}); err != nil {
			return err
		}
		fmt.Println("done")
		return nil
	case "holder":
		if _, err := acquire(ctx, s, resource, sess.ID, "holder"); err != nil {
			return err
		}
		fmt.Println("ready")
		<-ctx.Done() // until killed; bounded by ctx
		return nil
	}
	return fmt.Errorf("unknown role %q", role)
}

// checkFence, when path is set, fails unless token is above the token
// recorded in path by the previous holder, and records token.
func checkFence(path string, token int64) error {
	if path == "" {
		return nil
	}
	raw, err := os.ReadFile(path)
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return err
	}
	last, _ := strconv.ParseInt(strings.TrimSpace(string(raw)), 10, 64)
	if token <= last {
		return fmt.Errorf("fencing token %d is not above the last holder's %d", token, last)
	}
	return os.WriteFile(path, []byte(strconv.FormatInt(token, 10)), 0o644)
}

// incrementSlowly adds one to the number in path, leaving a window between
// read and write in which an overlapping holder would lose an update.
func incrementSlowly(path string) error {
	raw, err := os.ReadFile(path)
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return err
	}
	n, _ := strconv.Atoi(strings.TrimSpace(string(raw)))
	time.Sleep(200 * time.Microsecond)
	return os.WriteFile(path, []byte(strconv.Itoa(n+1)), 0o644)
}

// acquire is the host's exclusive-lock recipe on the bare store: put an
// entry (with the range, in one call) and wait until every entry created
// before it is gone.
func acquire(ctx context.Context, b sdk.Backend, resource, session, key string) (sdk.PutResult, error) {
	p, err := b.Put(ctx, sdk.PutRequest{Resource: resource, Key: key, Session: session, WithRange: true})
	if err != nil {
		return p, err
	}
	return p, awaitGrant(ctx, b, resource, key, p)
}

// awaitGrant is acquire's wait, after its put p.
func awaitGrant(ctx context.Context, b sdk.Backend, resource, key string, p sdk.PutResult) error {
	entries, from := p.Entries, p.Rev+1
	moved := errors.New("the nearest entry ahead changed")
	for {
		// As the host does: wait for the nearest entry ahead (and one's
		// own), so a change further ahead or behind does not wake this
		// process (sdk.WithWakeOn).
		ahead := map[string]bool{}
		nearest := sdk.Entry{}
		for _, e := range entries {
			if e.CreateRev < p.CreateRev {
				ahead[e.Key] = true
				if e.CreateRev > nearest.CreateRev {
					nearest = e
				}
			}
		}
		if len(ahead) == 0 {
			return nil
		}
		err := b.Watch(sdk.WithWakeOn(ctx, key, nearest.Key), resource, from, func(ev sdk.Event) error {
			from = ev.Rev + 1
			switch ev.Type {
			case sdk.EventDelete:
				entries = slices.DeleteFunc(entries, func(e sdk.Entry) bool { return e.Key == ev.Entry.Key })
			default:
				if i := slices.IndexFunc(entries, func(e sdk.Entry) bool { return e.Key == ev.Entry.Key }); i >= 0 {
					entries[i] = ev.Entry
				} else {
					entries = append(entries, ev.Entry)
				}
			}
			if ev.Entry.Key == nearest.Key || ev.Entry.Key == key {
				return moved
			}
			return nil
		})
		switch {
		case errors.Is(err, moved):
		case errors.Is(err, sdk.ErrCompacted):
			rg, err := b.Range(ctx, resource)
			if err != nil {
				return err
			}
			entries, from = rg.Entries, rg.Rev+1
		default:
			return err
		}
	}
}

// child starts this test binary in role; the test kills it by pid when it
// ends, if it is still running.
func child(t *testing.T, role string, env ...string) *exec.Cmd {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(append(os.Environ(), roleEnv+"="+role), env...)
	cmd.Stderr = &strings.Builder{}
	return cmd
}

func stopChild(t *testing.T, cmd *exec.Cmd) {
	t.Cleanup(func() {
		if cmd.ProcessState == nil && cmd.Process != nil {
			_ = cmd.Process.Kill()
			_ = cmd.Wait()
		}
	})
}

// TestMultiProcessMutualExclusion: several processes, each with its own
// store on the same directory, take turns incrementing a counter file with
// the lock recipe. A lost update means two held the lock at once.
func TestMultiProcessMutualExclusion(t *testing.T) {
	if testing.Short() {
		t.Skip("multi-process")
	}
	dir := t.TempDir()
	counter := filepath.Join(dir, "counter")
	const procs, rounds = 4, 40
	for name, resource := range map[string]string{"named": "shared-counter", "file": counter} {
		t.Run(name, func(t *testing.T) {
			_ = os.Remove(counter)
			var cmds []*exec.Cmd
			for range procs {
				cmd := child(t, "counter", dirEnv+"="+dir, resourceEnv+"="+resource, counterEnv+"="+counter, roundsEnv+"="+strconv.Itoa(rounds))
				if err := cmd.Start(); err != nil {
					t.Fatal(err)
				}
				stopChild(t, cmd)
				cmds = append(cmds, cmd)
			}
			for _, cmd := range cmds {
				if err := waitBounded(cmd, time.Minute); err != nil {
					t.Fatalf("child %d: %v\n%s", cmd.Process.Pid, err, cmd.Stderr)
				}
			}
			raw, _ := os.ReadFile(counter)
			if got := strings.TrimSpace(string(raw)); got != strconv.Itoa(procs*rounds) {
				t.Errorf("counter = %s; want %d: updates were lost", got, procs*rounds)
			}
		})
	}
}

// TestMultiProcessRemovalUnderContention: processes that close idle state
// files at once (1ms) and pause between rounds keep removing the shared
// resource's state file and creating it again while others contend for
// it. No two ever hold the lock at once (no lost update), and every
// holder's fencing token is above the previous holder's.
func TestMultiProcessRemovalUnderContention(t *testing.T) {
	if testing.Short() {
		t.Skip("multi-process")
	}
	dir := t.TempDir()
	counter, fence := filepath.Join(dir, "counter"), filepath.Join(dir, "fence")
	const procs, rounds = 4, 30
	var cmds []*exec.Cmd
	for range procs {
		cmd := child(t, "counter", dirEnv+"="+dir, resourceEnv+"=contended", counterEnv+"="+counter,
			roundsEnv+"="+strconv.Itoa(rounds), idleEnv+"=1ms", pauseEnv+"=4ms", fenceEnv+"="+fence)
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		stopChild(t, cmd)
		cmds = append(cmds, cmd)
	}
	for _, cmd := range cmds {
		if err := waitBounded(cmd, 2*time.Minute); err != nil {
			t.Fatalf("child %d: %v\n%s", cmd.Process.Pid, err, cmd.Stderr)
		}
	}
	raw, _ := os.ReadFile(counter)
	if got := strings.TrimSpace(string(raw)); got != strconv.Itoa(procs*rounds) {
		t.Errorf("counter = %s; want %d: updates were lost", got, procs*rounds)
	}
	// The floor is raised only by removals: it proves the state file was
	// removed (and created again) during the run.
	s := newStore(t, dir)
	if floor, err := s.floor.current(); err != nil || floor == 0 {
		t.Errorf("revision floor = %d, %v; the state file was never removed", floor, err)
	}
}

// TestManyWaiters: 100 processes (LOCKSMITH_FILE_TEST_WAITERS) queue for one lock behind the test,
// each then holding it for a while. All get it in turn, none overlaps, and none falls back
// to polling or logs anything (inotify ran out of instances at 128 per
// user). The time from go to the last release is logged beside the serial
// work time (the sum of the holds); BenchmarkManyWaiters reports it.
func TestManyWaiters(t *testing.T) {
	if testing.Short() {
		t.Skip("multi-process")
	}
	n := manyWaiters()
	elapsed, serial := runManyWaiters(t, n, 20*time.Millisecond)
	t.Logf("%d waiters: %v from go to the last release; serial work %v (%.2fx)", n, elapsed, serial, float64(elapsed)/float64(serial))
}

// manyWaiters is how many processes TestManyWaiters starts:
// LOCKSMITH_FILE_TEST_WAITERS, else 100.
func manyWaiters() int {
	if n, err := strconv.Atoi(os.Getenv("LOCKSMITH_FILE_TEST_WAITERS")); err == nil && n > 0 {
		return n
	}
	return 100
}

// runManyWaiters holds the lock, starts n waiter processes, waits until
// each is queued, lets go, and returns the time until the last released
// and the serial work time n*hold.
func runManyWaiters(t testing.TB, n int, hold time.Duration) (elapsed, serial time.Duration) {
	t.Helper()
	dir, err := os.MkdirTemp("", "many-waiters-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = os.RemoveAll(dir) })
	counter := filepath.Join(dir, "counter")
	// The parent holds the lock first, as the children's store would, so
	// that every child is queued before the clock starts.
	ctx := context.Background()
	gate := New()
	if err := gate.Configure(ctx, sdk.Config{
		"named_dir":      filepath.Join(dir, "named"),
		"session_dir":    filepath.Join(dir, "sessions"),
		"probe_interval": "20ms",
	}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = gate.Close() })
	gs, err := gate.OpenSession(ctx, time.Hour, nil)
	if err != nil {
		t.Fatal(err)
	}
	held, err := gate.Put(ctx, sdk.PutRequest{Resource: "many", Key: "gate", Session: gs.ID})
	if err != nil {
		t.Fatal(err)
	}
	type proc struct {
		cmd    *exec.Cmd
		stdin  io.WriteCloser
		stdout *bufio.Reader
	}
	procs := make([]proc, 0, n)
	for range n {
		cmd := exec.Command(os.Args[0], "-test.run=^$")
		cmd.Env = append(os.Environ(), roleEnv+"=waiter", dirEnv+"="+dir, resourceEnv+"=many", counterEnv+"="+counter, pauseEnv+"="+hold.String())
		cmd.Stderr = &strings.Builder{}
		in, err := cmd.StdinPipe()
		if err != nil {
			t.Fatal(err)
		}
		out, err := cmd.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() {
			if cmd.ProcessState == nil {
				_ = cmd.Process.Kill()
				_ = cmd.Wait()
			}
		})
		procs = append(procs, proc{cmd, in, bufio.NewReader(out)})
	}
	for _, p := range procs {
		if line, err := p.stdout.ReadString('\n'); line != "ready\n" {
			t.Fatalf("waiter %d not ready: %q, %v\n%s", p.cmd.Process.Pid, line, err, p.cmd.Stderr)
		}
	}
	start := time.Now()
	if _, err := gate.Delete(ctx, sdk.DeleteRequest{Resource: "many", Key: "gate", ExpectRev: held.ModRev}); err != nil {
		t.Fatal(err)
	}
	for _, p := range procs {
		if line, err := p.stdout.ReadString('\n'); line != "done\n" {
			werr := waitBounded(p.cmd, 10*time.Second)
			t.Fatalf("waiter %d: %q, %v (%v)\n%s", p.cmd.Process.Pid, line, err, werr, p.cmd.Stderr)
		}
	}
	elapsed = time.Since(start)
	for _, p := range procs {
		if err := waitBounded(p.cmd, time.Minute); err != nil {
			t.Fatalf("waiter %d: %v\n%s", p.cmd.Process.Pid, err, p.cmd.Stderr)
		}
		if msg := p.cmd.Stderr.(*strings.Builder).String(); msg != "" {
			t.Errorf("waiter %d logged: %s", p.cmd.Process.Pid, msg)
		}
	}
	raw, _ := os.ReadFile(counter)
	if got := strings.TrimSpace(string(raw)); got != strconv.Itoa(n) {
		t.Errorf("counter = %s; want %d: two waiters held the lock at once", got, n)
	}
	return elapsed, time.Duration(n) * hold
}

// waitBounded waits for cmd, killing it after d.
func waitBounded(cmd *exec.Cmd, d time.Duration) error {
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		return err
	case <-time.After(d):
		_ = cmd.Process.Kill()
		<-done
		return fmt.Errorf("still running after %v; killed", d)
	}
}

// TestKilledHolderReleasesWaiter: a process holding a lock is killed with
// SIGKILL; a waiter in another process gets the lock within 1.5s, with no
// TTL wait (the holder's session has a 30s TTL).
func TestKilledHolderReleasesWaiter(t *testing.T) {
	if testing.Short() {
		t.Skip("multi-process")
	}
	dir := t.TempDir()
	for name, resource := range map[string]string{"named": "killed-holder", "file": filepath.Join(dir, "data")} {
		t.Run(name, func(t *testing.T) {
			cmd := child(t, "holder", dirEnv+"="+dir, resourceEnv+"="+resource)
			out, err := cmd.StdoutPipe()
			if err != nil {
				t.Fatal(err)
			}
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			stopChild(t, cmd)
			ready := make(chan bool, 1)
			go func() { line, _ := bufio.NewReader(out).ReadString('\n'); ready <- line == "ready\n" }()
			select {
			case ok := <-ready:
				if !ok {
					t.Fatalf("holder failed: %s", cmd.Stderr)
				}
			case <-time.After(20 * time.Second):
				t.Fatal("holder not ready")
			}

			s := newStore(t, dir, func(c sdk.Config) { c["probe_interval"] = "50ms" })
			sess := openSession(t, s, time.Minute)
			granted := make(chan time.Time, 1)
			errc := make(chan error, 1)
			go func() {
				if _, err := acquire(testCtx(t), s, resource, sess, "waiter"); err != nil {
					errc <- err
					return
				}
				granted <- time.Now()
			}()
			select {
			case <-granted:
				t.Fatal("waiter got the lock while the holder lives")
			case err := <-errc:
				t.Fatal(err)
			case <-time.After(300 * time.Millisecond):
			}
			killed := time.Now()
			if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
				t.Fatal(err)
			}
			select {
			case at := <-granted:
				d := at.Sub(killed)
				t.Logf("waiter got the lock %v after kill -9 of the holder", d)
				if d > 1500*time.Millisecond {
					t.Errorf("waiter took %v; want within 1.5s", d)
				}
			case err := <-errc:
				t.Fatal(err)
			case <-time.After(5 * time.Second):
				t.Fatal("waiter still waiting 5s after the holder was killed")
			}
			_ = cmd.Wait()
		})
	}
}
