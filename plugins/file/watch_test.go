package file

import (
	"context"
	"errors"
	"fmt"
	"syscall"
	"testing"
	"time"

	"github.com/locksmithx/locksmith/sdk"
)

// watchEvents runs Watch in the background until the test ends and returns
// its events and its end; the watch wakes on the keys wakeOn names
// (sdk.WithWakeOn), if any.
func watchEvents(t *testing.T, s *Store, resource string, from int64, wakeOn ...string) (<-chan sdk.Event, <-chan error) {
	t.Helper()
	ctx, cancel := context.WithCancel(sdk.WithWakeOn(context.Background(), wakeOn...))
	events := make(chan sdk.Event, 1024)
	done := make(chan error, 1)
	go func() { done <- s.Watch(ctx, resource, from, func(ev sdk.Event) error { events <- ev; return nil }) }()
	t.Cleanup(func() {
		cancel()
		select {
		case <-done:
		case <-time.After(5 * time.Second):
			t.Error("Watch did not end with its context")
		}
	})
	return events, done
}

func nextEvent(t *testing.T, events <-chan sdk.Event, within time.Duration) sdk.Event {
	t.Helper()
	select {
	case ev := <-events:
		return ev
	case <-time.After(within):
		t.Fatalf("no event within %v", within)
		return sdk.Event{}
	}
}

// TestWatchAcrossProcessesUsesNotifications: with polling effectively off
// (one minute), a change by another store reaches a watch at once through
// the futex words.
func TestWatchAcrossProcessesUsesNotifications(t *testing.T) {
	dir := t.TempDir()
	watcher := newStore(t, dir, func(c sdk.Config) { c["poll_interval"] = "1m"; c["probe_interval"] = "10s" })
	writer := newStore(t, dir)
	sess := openSession(t, writer, time.Minute)
	events, _ := watchEvents(t, watcher, "r", 1)
	time.Sleep(50 * time.Millisecond)
	for i := range 3 {
		start := time.Now()
		p := mustPut(t, writer, sdk.PutRequest{Resource: "r", Key: "k", Value: []byte{byte(i)}, Session: sess})
		ev := nextEvent(t, events, 2*time.Second)
		if ev.Rev != p.ModRev || ev.Type != sdk.EventPut || ev.Entry.Value[0] != byte(i) {
			t.Fatalf("event %+v; want the put at %d", ev, p.ModRev)
		}
		if d := time.Since(start); d > 500*time.Millisecond {
			t.Errorf("event took %v", d)
		}
	}
}

// TestWatchWakeOnSleepsThroughOtherKeys: a watch that names a key
// (sdk.WithWakeOn) in one store is not woken by another store's change of
// another key, and once the named key changes it delivers both changes, in
// order.
func TestWatchWakeOnSleepsThroughOtherKeys(t *testing.T) {
	dir := t.TempDir()
	watcher := newStore(t, dir, func(c sdk.Config) { c["poll_interval"] = "1m"; c["probe_interval"] = "10s" })
	writer := newStore(t, dir)
	sess := openSession(t, writer, time.Minute)
	pw := mustPut(t, writer, sdk.PutRequest{Resource: "r", Key: "w", Session: sess})
	events, _ := watchEvents(t, watcher, "r", pw.Rev+1, "w")
	time.Sleep(100 * time.Millisecond)

	px := mustPut(t, writer, sdk.PutRequest{Resource: "r", Key: "x", Session: sess})
	select {
	case ev := <-events:
		t.Fatalf("a watch waiting for w delivered %s of %s at once", ev.Type, ev.Entry.Key)
	case <-time.After(300 * time.Millisecond):
	}
	pw2 := mustPut(t, writer, sdk.PutRequest{Resource: "r", Key: "w", Value: []byte("2"), Session: sess})
	for _, want := range []sdk.PutResult{px, pw2} {
		if ev := nextEvent(t, events, 2*time.Second); ev.Rev != want.ModRev {
			t.Fatalf("event at revision %d; want %d", ev.Rev, want.ModRev)
		}
	}
}

// TestWatchSeesDeadSessionQuickly: when the process owning an entry dies
// (here: its session file's lock is dropped without any cleanup, as the
// kernel does for a killed process), a watch in another process delivers
// the entry's deletion within well under a second.
func TestWatchSeesDeadSessionQuickly(t *testing.T) {
	dir := t.TempDir()
	// Neither a re-read nor a probe comes within the test's bound: the
	// watch learns of the death through its parked flock.
	watcher := newStore(t, dir, func(c sdk.Config) { c["poll_interval"] = "1m"; c["probe_interval"] = "10s" })
	holder := newStore(t, dir)
	sess := openSession(t, holder, time.Minute)
	p := mustPut(t, holder, sdk.PutRequest{Resource: "r", Key: "held", Session: sess})
	events, _ := watchEvents(t, watcher, "r", p.Rev+1)
	time.Sleep(100 * time.Millisecond)

	holder.mu.Lock()
	f := holder.sessions[sess].f
	holder.mu.Unlock()
	start := time.Now()
	_ = f.Close() // the lock goes, the file stays: a crash
	ev := nextEvent(t, events, 2*time.Second)
	if ev.Type != sdk.EventDelete || ev.Entry.Key != "held" || ev.Entry.Session != sess || ev.Rev != p.Rev+1 {
		t.Fatalf("event %+v; want the deletion of the dead entry", ev)
	}
	if d := time.Since(start); d > 500*time.Millisecond {
		t.Errorf("dead session noticed after %v", d)
	}
	if rg, _ := watcher.Range(testCtx(t), "r"); len(rg.Entries) != 0 {
		t.Errorf("Range after the death: %+v", rg)
	}
}

// TestRangeNeverReportsDeadEntries: Range purges entries of dead sessions
// before answering, as deletes with revisions.
func TestRangeNeverReportsDeadEntries(t *testing.T) {
	dir := t.TempDir()
	reader := newStore(t, dir)
	holder := newStore(t, dir)
	sess := openSession(t, holder, time.Minute)
	p := mustPut(t, holder, sdk.PutRequest{Resource: "r", Key: "k", Session: sess})
	killSession(holder, sess)
	rg, err := reader.Range(testCtx(t), "r")
	if err != nil || len(rg.Entries) != 0 || rg.Rev != p.Rev+1 {
		t.Errorf("Range = %+v, %v; want the dead entry purged at revision %d", rg, err, p.Rev+1)
	}
}

func TestSessionExpiryRemovesEntries(t *testing.T) {
	s := newStore(t, t.TempDir())
	ctx := testCtx(t)
	sess, err := s.OpenSession(ctx, 300*time.Millisecond, map[string]string{"who": "test"})
	if err != nil {
		t.Fatal(err)
	}
	p := mustPut(t, s, sdk.PutRequest{Resource: "a", Key: "k", Session: sess.ID})
	mustPut(t, s, sdk.PutRequest{Resource: "b", Key: "k", Session: sess.ID})
	events, _ := watchEvents(t, s, "a", p.Rev+1)
	for range 3 {
		time.Sleep(150 * time.Millisecond)
		if ttl, err := s.KeepAlive(ctx, sess.ID); err != nil || ttl != 300*time.Millisecond {
			t.Fatalf("KeepAlive = %v, %v", ttl, err)
		}
	}
	if rg, _ := s.Range(ctx, "a"); len(rg.Entries) != 1 {
		t.Fatalf("entry gone while kept alive: %+v", rg)
	}
	ev := nextEvent(t, events, 2*time.Second)
	if ev.Type != sdk.EventDelete || ev.Entry.Key != "k" {
		t.Errorf("event %+v; want the expiry's delete", ev)
	}
	if _, err := s.KeepAlive(ctx, sess.ID); !errors.Is(err, sdk.ErrSessionExpired) {
		t.Errorf("KeepAlive after expiry = %v", err)
	}
	for _, r := range []string{"a", "b"} {
		if rg, _ := s.Range(ctx, r); len(rg.Entries) != 0 {
			t.Errorf("%s after expiry: %+v", r, rg)
		}
	}
	if _, err := s.Put(ctx, sdk.PutRequest{Resource: "a", Key: "k", Session: sess.ID}); !errors.Is(err, sdk.ErrSessionExpired) {
		t.Errorf("Put with an expired session = %v", err)
	}
}

// TestCloseReleasesEverything: Close revokes sessions (their entries go, as
// deletes), ends watches, and a later call reports the store closed.
func TestCloseReleasesEverything(t *testing.T) {
	dir := t.TempDir()
	s := newStore(t, dir)
	other := newStore(t, dir)
	sess := openSession(t, s, time.Minute)
	mustPut(t, s, sdk.PutRequest{Resource: "r", Key: "k", Session: sess})
	done := make(chan error, 1)
	go func() { done <- s.Watch(context.Background(), "r", 1, func(sdk.Event) error { return nil }) }()
	time.Sleep(50 * time.Millisecond)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-done:
		if err == nil {
			t.Error("Watch ended without an error at Close")
		}
	case <-time.After(2 * time.Second):
		t.Fatal("Watch still running after Close")
	}
	if rg, _ := other.Range(testCtx(t), "r"); len(rg.Entries) != 0 {
		t.Errorf("entries after Close: %+v", rg)
	}
	if _, err := s.Range(testCtx(t), "r"); !errors.Is(err, sdk.ErrUnavailable) {
		t.Errorf("Range after Close = %v", err)
	}
	if err := s.Close(); err != nil {
		t.Errorf("second Close = %v", err)
	}
}

// TestSessionDirMismatchRefused: a store with another session_dir must not
// judge (and purge) entries whose sessions live elsewhere.
func TestSessionDirMismatchRefused(t *testing.T) {
	dir := t.TempDir()
	s := newStore(t, dir)
	sess := openSession(t, s, time.Minute)
	mustPut(t, s, sdk.PutRequest{Resource: "r", Key: "k", Session: sess})
	other := newStore(t, dir, func(c sdk.Config) { c["session_dir"] = t.TempDir() })
	if _, err := other.Range(testCtx(t), "r"); !errors.Is(err, sdk.ErrInvalidConfig) {
		t.Errorf("Range with another session_dir = %v", err)
	}
	if rg, _ := s.Range(testCtx(t), "r"); len(rg.Entries) != 1 {
		t.Errorf("entry lost: %+v", rg)
	}
}

// TestWatchCompacted: history is bounded; a watch from before it gets
// ErrCompacted before any event, one from within it gets every event.
func TestWatchCompacted(t *testing.T) {
	s := newStore(t, t.TempDir())
	sess := openSession(t, s, time.Minute)
	var last sdk.PutResult
	for range historyEvents + 50 {
		last = mustPut(t, s, sdk.PutRequest{Resource: "r", Key: "k", Session: sess})
	}
	n := 0
	err := s.Watch(testCtx(t), "r", 1, func(sdk.Event) error { n++; return nil })
	if !errors.Is(err, sdk.ErrCompacted) || n != 0 {
		t.Errorf("Watch from 1 = %v after %d events; want ErrCompacted before any", err, n)
	}
	from := last.Rev - 99
	var got []int64
	stop := errors.New("stop")
	err = s.Watch(testCtx(t), "r", from, func(ev sdk.Event) error {
		got = append(got, ev.Rev)
		if ev.Rev == last.Rev {
			return stop
		}
		return nil
	})
	if !errors.Is(err, stop) || len(got) != 100 || got[0] != from {
		t.Errorf("Watch from %d: %v, %d events starting %v", from, err, len(got), got[:min(1, len(got))])
	}
}

// TestWatchMissesNoWakeUp: a change made by another store right after a
// watch starts (before its wake-up goroutine may have run) still wakes it.
// Polling is off (1m), so a lost wake-up shows as a missing event.
func TestWatchMissesNoWakeUp(t *testing.T) {
	dir := t.TempDir()
	watcher := newStore(t, dir, func(c sdk.Config) { c["poll_interval"] = "1m"; c["probe_interval"] = "10s" })
	writer := newStore(t, dir)
	sess := openSession(t, writer, time.Minute)
	for i := range 100 {
		resource := fmt.Sprintf("r%d", i)
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		got := make(chan error, 1)
		stop := errors.New("stop")
		go func() {
			got <- watcher.Watch(ctx, resource, 1, func(ev sdk.Event) error {
				if ev.Type == sdk.EventPut {
					return stop
				}
				return nil
			})
		}()
		mustPut(t, writer, sdk.PutRequest{Resource: resource, Key: "k", Session: sess})
		err := <-got
		cancel()
		if !errors.Is(err, stop) {
			t.Fatalf("watch %d: %v; the put never woke it", i, err)
		}
	}
}

// TestRewriteWakesKeyWatchersElsewhere: a change of the state that its
// events do not tell (a rewrite: repair, a new boot, a format conversion)
// in one store kicks another store's watches that wait for keys, at once,
// not at their next poll.
func TestRewriteWakesKeyWatchersElsewhere(t *testing.T) {
	dir := t.TempDir()
	watcher := newStore(t, dir, func(c sdk.Config) { c["poll_interval"] = "1m"; c["probe_interval"] = "10s" })
	writer := newStore(t, dir)
	sess := openSession(t, writer, time.Minute)
	mustPut(t, writer, sdk.PutRequest{Resource: "r", Key: "w", Session: sess})
	if !watcher.bells.working() {
		t.Skip("no cross-process wake-ups on this system")
	}
	wsf, err := watcher.open("r")
	if err != nil {
		t.Fatal(err)
	}
	defer watcher.doneWith(wsf)
	kick := make(chan struct{}, 1)
	defer wsf.watchKeys([]string{"w"}, kick)()
	defer watcher.bells.subscribeKeys(wsf, []string{"w"})()
	time.Sleep(100 * time.Millisecond)
	select {
	case <-kick: // the subscription's first look
	default:
	}

	sf, err := writer.open("r")
	if err != nil {
		t.Fatal(err)
	}
	defer writer.doneWith(sf)
	if err := writer.lockState(testCtx(t), sf, syscall.LOCK_EX, false); err != nil {
		t.Fatal(err)
	}
	sf.changedNow()
	sf.unlock()
	select {
	case <-kick:
	case <-time.After(2 * time.Second):
		t.Fatal("a rewrite in another store did not wake a watch waiting for a key")
	}
}

// TestBucketsEndWithTheirWatches: every request has keys of its own, so
// each waiter's watch starts goroutines that block in the futex, one per
// bucket of its words (its keys' and its file's), each on an OS thread.
// When the watches end, those goroutines must end too, at once: left to
// their next recheck, a plugin under steady locking held thousands of
// threads.
func TestBucketsEndWithTheirWatches(t *testing.T) {
	s := newStore(t, t.TempDir())
	if !s.bells.working() {
		t.Skip("no cross-process wake-ups on this system")
	}
	sf, err := s.open("r")
	if err != nil {
		t.Fatal(err)
	}
	defer s.doneWith(sf)
	buckets := func() int {
		s.bells.mu.Lock()
		defer s.bells.mu.Unlock()
		return len(s.bells.buckets)
	}
	var stops []func()
	for i := range 200 {
		stops = append(stops, s.bells.subscribeKeys(sf, []string{fmt.Sprintf("req-%d", i)}))
	}
	if n := buckets(); n < 100 {
		t.Fatalf("%d buckets watched for 200 keys; the test needs one goroutine per bucket", n)
	}
	// Let every goroutine reach its wait: a wake before it waits is lost,
	// and the goroutine ends only at its recheck.
	time.Sleep(200 * time.Millisecond)
	for _, stop := range stops {
		stop()
	}
	// wakeRecheck is when a goroutine whose watches ended would notice
	// without being woken; the bound here is well below it.
	deadline := time.Now().Add(wakeRecheck / 10)
	for buckets() > 0 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if n := buckets(); n > 0 {
		t.Fatalf("%d bucket goroutines still wait after their watches ended", n)
	}
}

// TestClosingWakesNoOtherProcess: every process with a waiter on a file
// waits on the file's words, and a store closing wakes its own goroutines
// to end them. With a plain FUTEX_WAKE it woke every other process's too:
// with 200 exec waiters, each exec leaving (one per handoff) woke the
// other 199 plugins. Two stores on one session directory share the words
// as two processes do; closing one must not wake the other's wait, and
// must still end its own goroutines before their recheck.
func TestClosingWakesNoOtherProcess(t *testing.T) {
	dir := t.TempDir()
	a, b := newStore(t, dir), newStore(t, dir)
	if !a.bells.working() || !b.bells.working() {
		t.Skip("no cross-process wake-ups on this system")
	}
	if a.bells.bit == b.bells.bit {
		t.Fatalf("two tables of one process took the same bit %#x", a.bells.bit)
	}
	watch := func(s *Store, key string) {
		sf, err := s.open("r")
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.doneWith(sf) })
		t.Cleanup(s.bells.subscribeKeys(sf, []string{key}))
	}
	watch(a, "a")
	watch(b, "b")
	// Let both goroutines of the file's bucket reach their waits.
	time.Sleep(200 * time.Millisecond)
	before := b.bells.waits.Load()
	start := time.Now()
	if err := a.Close(); err != nil {
		t.Fatal(err)
	}
	if took := time.Since(start); took >= wakeRecheck/10 {
		t.Fatalf("closing took %v: its goroutines waited for their recheck (%v)", took, wakeRecheck)
	}
	time.Sleep(200 * time.Millisecond)
	if n := b.bells.waits.Load() - before; n != 0 {
		t.Fatalf("closing one store woke the other's waits %d times", n)
	}
}
