package file

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/locksmithx/locksmith/sdk"
)

// hostCopy duplicates a session's anchor as the host holds it: another
// descriptor of the same open file description.
func hostCopy(t *testing.T, anchor *os.File) *os.File {
	t.Helper()
	if anchor == nil {
		t.Fatal("the session has no anchor")
	}
	fd, err := syscall.Dup(int(anchor.Fd()))
	if err != nil {
		t.Fatal(err)
	}
	f := os.NewFile(uintptr(fd), "host-anchor")
	t.Cleanup(func() { _ = f.Close() })
	return f
}

// TestRevokedSessionIsDeadWhileItsAnchorIsOpen: after Revoke, another
// process sees the session dead — even though it probed it alive before
// (and keeps that descriptor) and the host still holds its anchor — and
// the lock is gone from the anchor's open file description too.
func TestRevokedSessionIsDeadWhileItsAnchorIsOpen(t *testing.T) {
	dir := t.TempDir()
	a, b := newStore(t, dir), newStore(t, dir)
	ctx := testCtx(t)
	sess, err := a.OpenSession(ctx, time.Minute, nil)
	if err != nil {
		t.Fatal(err)
	}
	anchor := hostCopy(t, sess.Anchor)
	if _, err := a.Put(ctx, sdk.PutRequest{Resource: "r", Key: "k", Session: sess.ID}); err != nil {
		t.Fatal(err)
	}
	if !b.alive(sess.ID) {
		t.Fatal("a live session probed dead")
	}
	if err := a.Revoke(ctx, sess.ID); err != nil {
		t.Fatal(err)
	}
	if b.alive(sess.ID) {
		t.Fatal("a revoked session probed alive while its anchor is open")
	}
	// A new open file description of the same inode can take the lock:
	// nothing holds it, the host's copy included.
	f, err := os.Open(fmt.Sprintf("/proc/self/fd/%d", anchor.Fd()))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		t.Fatalf("lock of a revoked session's file: %v, want it free", err)
	}
	if _, err := b.AdoptSession(ctx, sess.ID, time.Minute, anchor); !errors.Is(err, sdk.ErrSessionExpired) {
		t.Fatalf("adopt a revoked session: %v, want ErrSessionExpired", err)
	}
}

// TestProbeSeesMovedSessionFileDead: a session file still locked but no
// longer at its path (its session was revoked by a process that died
// before it dropped the lock) is dead to a probe that cached it alive.
func TestProbeSeesMovedSessionFileDead(t *testing.T) {
	dir := t.TempDir()
	a, b := newStore(t, dir), newStore(t, dir)
	ctx := testCtx(t)
	sess, err := a.OpenSession(ctx, time.Minute, nil)
	if err != nil {
		t.Fatal(err)
	}
	if !b.alive(sess.ID) {
		t.Fatal("a live session probed dead")
	}
	if err := os.Remove(filepath.Join(dir, "sessions", sess.ID)); err != nil {
		t.Fatal(err)
	}
	if b.alive(sess.ID) {
		t.Fatal("a locked session file no longer at its path probed alive")
	}
}

// TestAdoptChecksTheAnchor: a session is adopted only with its own anchor,
// and only while the anchor holds its lock.
func TestAdoptChecksTheAnchor(t *testing.T) {
	dir := t.TempDir()
	a, b := newStore(t, dir), newStore(t, dir)
	ctx := testCtx(t)
	s1, err := a.OpenSession(ctx, time.Minute, nil)
	if err != nil {
		t.Fatal(err)
	}
	s2, err := a.OpenSession(ctx, time.Minute, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := b.AdoptSession(ctx, s1.ID, time.Minute, hostCopy(t, s2.Anchor)); !errors.Is(err, sdk.ErrSessionExpired) {
		t.Fatalf("adopt with another session's anchor: %v, want ErrSessionExpired", err)
	}
	if _, err := b.AdoptSession(ctx, s1.ID, time.Minute, nil); !errors.Is(err, sdk.ErrSessionExpired) {
		t.Fatalf("adopt without anchor: %v, want ErrSessionExpired", err)
	}
	// A descriptor of the right file that does not hold the lock (a new
	// open file description) is not the anchor.
	other, err := os.Open(filepath.Join(dir, "sessions", s1.ID))
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	if _, err := b.AdoptSession(ctx, s1.ID, time.Minute, other); !errors.Is(err, sdk.ErrSessionExpired) {
		t.Fatalf("adopt with a descriptor that does not hold the lock: %v, want ErrSessionExpired", err)
	}
	got, err := b.AdoptSession(ctx, s1.ID, 30*time.Second, hostCopy(t, s1.Anchor))
	if err != nil {
		t.Fatalf("adopt with the session's anchor: %v", err)
	}
	if got.ID != s1.ID || got.TTL != 30*time.Second {
		t.Fatalf("adopted %+v", got)
	}
	if _, err := b.KeepAlive(ctx, s1.ID); err != nil {
		t.Fatalf("keep the adopted session alive: %v", err)
	}
}

// queueOf puts one entry of each of n new sessions of s into resource, so
// that a queue of n live sessions (of another process, to the store under
// test) stands in it.
func queueOf(t *testing.T, s *Store, resource string, n int) {
	t.Helper()
	for i := range n {
		id := openSession(t, s, time.Minute)
		mustPut(t, s, sdk.PutRequest{Resource: resource, Key: fmt.Sprintf("%s/%d", id, i), Session: id})
	}
}

// TestRevokeAfterReleaseVisitsNothing: a session whose entries are all
// released has nothing left in the state file, and revoking it does not
// touch the file. It used to lock the file exclusively and probe the whole
// queue: with 200 waiters, every exec ending held the lock the next
// holder's plugin needed to read its grant for 200 probes.
func TestRevokeAfterReleaseVisitsNothing(t *testing.T) {
	dir := t.TempDir()
	s, other := newStore(t, dir), newStore(t, dir)
	queueOf(t, other, "r", 10)
	id := openSession(t, s, time.Minute)
	p := mustPut(t, s, sdk.PutRequest{Resource: "r", Key: id + "/1", Session: id})
	if _, err := s.Delete(testCtx(t), sdk.DeleteRequest{Resource: "r", Key: id + "/1", ExpectRev: p.ModRev}); err != nil {
		t.Fatal(err)
	}
	// Another process holds the state file's lock: a revoke that visits
	// the file waits for it.
	holdStateLock(t, s, "r")
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	if err := s.Revoke(ctx, id); err != nil {
		t.Fatalf("revoking a session with nothing left in the file: %v", err)
	}
}

// TestRevokeRemovesEntriesBehindTheHead: revoking probes only the queue's
// head, as a release does, but removes every entry of the revoked session,
// wherever it stands in the queue.
func TestRevokeRemovesEntriesBehindTheHead(t *testing.T) {
	dir := t.TempDir()
	s, other := newStore(t, dir), newStore(t, dir)
	queueOf(t, other, "r", 2*headProbe)
	id := openSession(t, s, time.Minute)
	mustPut(t, s, sdk.PutRequest{Resource: "r", Key: id + "/1", Session: id})
	mustPut(t, s, sdk.PutRequest{Resource: "r", Key: id + "/2", Session: id})
	if err := s.Revoke(testCtx(t), id); err != nil {
		t.Fatal(err)
	}
	r, err := other.Range(testCtx(t), "r")
	if err != nil {
		t.Fatal(err)
	}
	if len(r.Entries) != 2*headProbe {
		t.Fatalf("%d entries after the revoke, want the other sessions' %d", len(r.Entries), 2*headProbe)
	}
	for _, e := range r.Entries {
		if e.Session == id {
			t.Fatalf("entry %s of the revoked session is still queued", e.Key)
		}
	}
}
