package file

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/locksmithx/locksmith/sdk"
)

// openFDs counts the open descriptors of process pid ("self" for this one).
func openFDs(t testing.TB, pid string) int {
	t.Helper()
	ents, err := os.ReadDir(filepath.Join("/proc", pid, "fd"))
	if err != nil {
		t.Fatalf("count descriptors: %v", err)
	}
	return len(ents)
}

// eventually polls cond every 20ms until it holds or d passes.
func eventually(d time.Duration, cond func() bool) bool {
	deadline := time.Now().Add(d)
	for {
		if cond() {
			return true
		}
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// lockRelease takes and releases a lock on resource as the host does:
// put with range, then delete naming the revision.
func lockRelease(t testing.TB, b sdk.Backend, session, resource string) sdk.PutResult {
	t.Helper()
	ctx := context.Background()
	p, err := b.Put(ctx, sdk.PutRequest{Resource: resource, Key: session + "/1", Session: session, WithRange: true})
	if err != nil {
		t.Fatalf("lock %s: %v", resource, err)
	}
	if _, err := b.Delete(ctx, sdk.DeleteRequest{Resource: resource, Key: session + "/1", ExpectRev: p.ModRev}); err != nil {
		t.Fatalf("release %s: %v", resource, err)
	}
	return p
}

// TestDescriptorsStayFlat: a long-lived store that locks and releases 1000
// distinct resources keeps no descriptor, handle or session bookkeeping
// for them once they are idle.
func TestDescriptorsStayFlat(t *testing.T) {
	s := newStore(t, t.TempDir())
	sess := openSession(t, s, time.Minute)
	lockRelease(t, s, sess, "warm-up")
	before := openFDs(t, "self")
	for i := range 1000 {
		lockRelease(t, s, sess, fmt.Sprintf("job-%d", i))
		if n := openFDs(t, "self"); n > before+maxIdle+8 {
			t.Fatalf("%d descriptors open after %d resources (%d before)", n, i+1, before)
		}
	}
	if !eventually(10*time.Second, func() bool { return openFDs(t, "self") <= before }) {
		t.Errorf("%d descriptors open once idle; %d before the 1000 resources", openFDs(t, "self"), before)
	}
	s.mu.Lock()
	files, resources := len(s.files), len(s.sessions[sess].resources)
	s.mu.Unlock()
	if files > 1 || resources > 1 {
		t.Errorf("store still tracks %d state files, the session %d", files, resources)
	}
}

// TestPluginDescriptorsStayFlat is TestDescriptorsStayFlat through a real
// plugin process, counting its descriptors.
func TestPluginDescriptorsStayFlat(t *testing.T) {
	conn := launch(t, t.TempDir())
	b := conn.Backend()
	sess, err := b.OpenSession(context.Background(), time.Minute, nil)
	if err != nil {
		t.Fatal(err)
	}
	pid := strconv.Itoa(conn.Pid())
	lockRelease(t, b, sess.ID, "warm-up")
	before := openFDs(t, pid)
	for i := range 1000 {
		lockRelease(t, b, sess.ID, fmt.Sprintf("job-%d", i))
	}
	if !eventually(10*time.Second, func() bool { return openFDs(t, pid) <= before+2 }) {
		t.Errorf("plugin has %d descriptors open once idle; %d before the 1000 resources", openFDs(t, pid), before)
	}
}

// TestNoStateLeftBehind: 10^4 distinct locks taken and released leave no
// state file behind, and a resource created again continues its fencing
// tokens above where it was.
func TestNoStateLeftBehind(t *testing.T) {
	dir := t.TempDir()
	s := newStore(t, dir)
	sess := openSession(t, s, time.Minute)
	n := 10000
	if testing.Short() {
		n = 1000
	}
	first := lockRelease(t, s, sess, "job-0")
	for i := 1; i < n; i++ {
		lockRelease(t, s, sess, fmt.Sprintf("job-%d", i))
	}
	named := filepath.Join(dir, "named")
	left := func() []os.DirEntry { ents, _ := os.ReadDir(named); return ents }
	if !eventually(20*time.Second, func() bool { return len(left()) == 0 }) {
		t.Fatalf("%d state files left in %s, e.g. %s", len(left()), named, left()[0].Name())
	}
	again := lockRelease(t, s, sess, "job-0")
	if again.CreateRev <= first.ModRev+1 {
		t.Errorf("token of a re-created resource = %d; want above %d, where its removed state file was", again.CreateRev, first.ModRev+1)
	}
	// A file resource's state file, beside it, goes too.
	data := filepath.Join(dir, "data")
	lockRelease(t, s, sess, data)
	if !eventually(10*time.Second, func() bool { _, err := os.Stat(data + ".locksmith"); return os.IsNotExist(err) }) {
		t.Errorf("%s.locksmith left behind", data)
	}
}

// TestWatchedStateFileStays: an empty state file another process watches
// is not removed, and the watch sees the next change.
func TestWatchedStateFileStays(t *testing.T) {
	dir := t.TempDir()
	watcher := newStore(t, dir)
	other := newStoreIdle(t, dir, 10*time.Millisecond)
	sess := openSession(t, other, time.Minute)
	lockRelease(t, other, sess, "watched")
	rg, err := watcher.Range(testCtx(t), "watched")
	if err != nil {
		t.Fatal(err)
	}
	events, _ := watchEvents(t, watcher, "watched", rg.Rev+1)
	path, _ := other.cfg.statePath("watched")
	var watched *os.File
	if !eventually(5*time.Second, func() bool { watched, err = os.Open(path); return err == nil }) {
		t.Fatalf("the watch made no state file: %v", err)
	}
	defer watched.Close()
	// The other store touches the file, then lets its handle go idle and
	// closes it: it must not remove the watched file.
	if _, err := other.Range(testCtx(t), "watched"); err != nil {
		t.Fatal(err)
	}
	if !eventually(5*time.Second, func() bool {
		other.mu.Lock()
		defer other.mu.Unlock()
		return len(other.files) == 0
	}) {
		t.Fatal("the other store keeps its handle")
	}
	if fi, err := watched.Stat(); err != nil || fi.Sys().(*syscall.Stat_t).Nlink != 1 {
		t.Fatalf("watched state file removed: %v", err)
	}
	q := mustPut(t, other, sdk.PutRequest{Resource: "watched", Key: "k", Session: sess})
	if ev := nextEvent(t, events, 5*time.Second); ev.Rev != q.ModRev || ev.Type != sdk.EventPut {
		t.Errorf("event %+v; want the put at %d", ev, q.ModRev)
	}
}

// newStoreIdle is newStore with handles closed after idle.
func newStoreIdle(t testing.TB, dir string, idle time.Duration) *Store {
	t.Helper()
	s := New()
	s.idleAfter = idle
	if err := s.Configure(context.Background(), sdk.Config{
		"named_dir":      filepath.Join(dir, "named"),
		"session_dir":    filepath.Join(dir, "sessions"),
		"probe_interval": "20ms",
	}); err != nil {
		t.Fatalf("Configure: %v", err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}

// TestPermanentErrors: a state file the file system refuses (no
// permission, here in /sys where even root may not create files) or a
// name it cannot hold is a permanent error naming the path, in process
// and across gRPC — not "backend unavailable".
func TestPermanentErrors(t *testing.T) {
	dir := t.TempDir()
	s := newStore(t, dir)
	long := filepath.Join(dir, strings.Repeat("x", 300))
	for name, b := range map[string]sdk.Backend{"direct": s, "grpc": sdk.TestBackendConn(t, s)} {
		t.Run(name, func(t *testing.T) {
			ctx := testCtx(t)
			sess, err := b.OpenSession(ctx, time.Minute, nil)
			if err != nil {
				t.Fatal(err)
			}
			for _, tc := range []struct {
				resource string
				want     error
			}{
				{"/sys/kernel/locksmith-test", sdk.ErrPermission},
				{long, sdk.ErrInvalidArgument},
			} {
				_, err := b.Put(ctx, sdk.PutRequest{Resource: tc.resource, Key: "k", Session: sess.ID})
				if !errors.Is(err, tc.want) || !strings.Contains(err.Error(), tc.resource+".locksmith") || strings.Contains(err.Error(), "\n") {
					t.Errorf("Put(%s) = %v; want %v in one line naming the state file", tc.resource, err, tc.want)
				}
			}
		})
	}
}

// TestRevokedSessionReleasesHandles: the state files a session held entries
// in are closed once it is revoked, as they are after a release.
func TestRevokedSessionReleasesHandles(t *testing.T) {
	s := newStoreIdle(t, t.TempDir(), 10*time.Millisecond)
	sess := openSession(t, s, time.Minute)
	for i := range 10 {
		mustPut(t, s, sdk.PutRequest{Resource: fmt.Sprintf("held-%d", i), Key: "k", Session: sess})
	}
	if err := s.Revoke(testCtx(t), sess); err != nil {
		t.Fatal(err)
	}
	if !eventually(10*time.Second, func() bool {
		s.mu.Lock()
		defer s.mu.Unlock()
		return len(s.files) == 0
	}) {
		s.mu.Lock()
		defer s.mu.Unlock()
		t.Errorf("%d state files still open after the session was revoked", len(s.files))
	}
}

// TestHeldBeyondMaxOpen: a process holding more locks than maxOpen keeps
// at most about maxOpen state files open, and revoking its session still
// removes every entry, in the files it closed too.
func TestHeldBeyondMaxOpen(t *testing.T) {
	saved := maxOpen
	maxOpen = 100
	t.Cleanup(func() { maxOpen = saved })
	s := newStore(t, t.TempDir())
	sess := openSession(t, s, time.Minute)
	lockRelease(t, s, sess, "warm-up")
	before := openFDs(t, "self")
	ctx := context.Background()
	const held = 400
	for i := range held {
		r := fmt.Sprintf("held-%d", i)
		if _, err := s.Put(ctx, sdk.PutRequest{Resource: r, Key: sess + "/1", Session: sess, IfAbsent: true, WithRange: true}); err != nil {
			t.Fatalf("lock %s: %v", r, err)
		}
		if n := openFDs(t, "self"); n > before+maxOpen+maxIdle+8 {
			t.Fatalf("%d descriptors open holding %d locks (%d before; at most %d held open)", n, i+1, before, maxOpen)
		}
	}
	// A held lock whose file was closed is still released by its Delete.
	if _, err := s.Delete(ctx, sdk.DeleteRequest{Resource: "held-0", Key: sess + "/1"}); err != nil {
		t.Fatalf("release held-0, whose file was closed: %v", err)
	}
	if err := s.Revoke(ctx, sess); err != nil {
		t.Fatalf("revoke: %v", err)
	}
	other := openSession(t, s, time.Minute)
	for i := 1; i < held; i++ {
		r := fmt.Sprintf("held-%d", i)
		rg, err := s.Range(ctx, r)
		if err != nil {
			t.Fatal(err)
		}
		if len(rg.Entries) != 0 {
			t.Fatalf("%s still has %s after its session was revoked", r, rg.Entries[0].Key)
		}
		// And the lock can be taken at once.
		p, err := s.Put(ctx, sdk.PutRequest{Resource: r, Key: other + "/1", Session: other, IfAbsent: true, WithRange: true})
		if err != nil || len(p.Entries) != 1 {
			t.Fatalf("lock %s after the revoke: %+v %v", r, p.Entries, err)
		}
	}
}

// TestJanitorSleepsWithoutIdleHandles: the janitor looks at idle handles
// only while there are some. A plugin that only waits (200 exec waiters
// are 200 plugins) was woken twice a second for nothing, and every wake of
// an idle Go process costs a handful of context switches. A handle that
// turns idle later is still closed.
func TestJanitorSleepsWithoutIdleHandles(t *testing.T) {
	s := newStoreIdle(t, t.TempDir(), 10*time.Millisecond)
	sess := openSession(t, s, time.Minute)
	open := func() int {
		s.mu.Lock()
		defer s.mu.Unlock()
		return len(s.files)
	}
	for round := range 2 {
		lockRelease(t, s, sess, fmt.Sprintf("r%d", round))
		if !eventually(10*time.Second, func() bool { return open() == 0 }) {
			t.Fatalf("round %d: %d state files still open after the release", round, open())
		}
		// Let the janitor finish the round that closed the handle.
		time.Sleep(50 * time.Millisecond)
		before := s.janitorRounds.Load()
		// 30 times the janitor's period (idleAfter/2).
		time.Sleep(150 * time.Millisecond)
		if n := s.janitorRounds.Load() - before; n != 0 {
			t.Fatalf("round %d: the janitor looked %d times with no handle idle", round, n)
		}
	}
}

// TestClosingProbesUntilALiveSession: closing a store closes its handles,
// removing each state file whose queue is empty. A queue with a live
// session is not empty, and the probes stop at the first live one. They
// used to probe the whole queue under the file's exclusive lock: an exec
// leaving with 200 waiters behind it made 200 probes, while the next
// holder's plugin waited for the lock to read its grant.
func TestClosingProbesUntilALiveSession(t *testing.T) {
	dir := t.TempDir()
	s, other := newStore(t, dir), newStore(t, dir)
	queueOf(t, other, "r", 10)
	id := openSession(t, s, time.Minute)
	lockRelease(t, s, id, "r")
	// Let the probe cache of the release's own probes go stale.
	time.Sleep(3 * 20 * time.Millisecond)
	before := s.probes.count.Load()
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if n := s.probes.count.Load() - before; n > 1 {
		t.Fatalf("closing probed %d sessions of a queue whose first one is alive", n)
	}
	r, err := other.Range(testCtx(t), "r")
	if err != nil {
		t.Fatal(err)
	}
	if len(r.Entries) != 10 {
		t.Fatalf("%d entries left, want 10", len(r.Entries))
	}
}
