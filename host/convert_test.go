package host

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"

	"github.com/locksmithx/locksmith/sdk"
)

// busyBackend is the real store with a newcomer on every conditional
// write: before each Update that names the resource's revision, another
// host takes and releases a shared lock on the same resource, so the
// revision the caller read is always stale by the time it writes.
type busyBackend struct {
	sdk.Backend
	newcomer func(ctx context.Context) error
	updates  atomic.Int64
}

func (b *busyBackend) Update(ctx context.Context, req sdk.UpdateRequest) (sdk.UpdateResult, error) {
	if req.ExpectResourceRev != 0 {
		b.updates.Add(1)
		if err := b.newcomer(ctx); err != nil {
			return sdk.UpdateResult{}, err
		}
	}
	return b.Backend.Update(ctx, req)
}

// onBackend makes l's session reach the store through be: a copy of its
// generation with be as its backend. The tests using it hold one lease on
// the session, and be passes everything it does not count to the real
// backend.
func onBackend(l *Lease, be sdk.Backend) {
	l.sess.mu.Lock()
	defer l.sess.mu.Unlock()
	g := *l.sess.gen
	g.backend = be
	l.sess.gen = &g
}

// TestUpgradeGivingUpKeepsLease: an upgrade whose queue changes under each
// of its tries gives up with an error that says so — not ErrNotHeld — and
// the lease still holds its old mode, can upgrade later, and releases.
func TestUpgradeGivingUpKeepsLease(t *testing.T) {
	dir := t.TempDir()
	a, b := newTestHost(t, dir), newTestHost(t, dir)
	ctx := testCtx(t)
	l := mustLock(t, a, "busy", WithMode(Shared))
	real := l.sess.backend()
	busy := &busyBackend{Backend: real}
	busy.newcomer = func(ctx context.Context) error {
		r, err := b.Named(ctx, "busy", WithMode(Shared), NoWait())
		if err != nil {
			return err
		}
		return r.Release(ctx)
	}
	onBackend(l, busy)

	err := l.Upgrade(ctx)
	if err == nil {
		t.Fatal("upgrade succeeded although the queue changed before each of its writes")
	}
	if errors.Is(err, ErrNotHeld) || errors.Is(err, ErrLost) {
		t.Fatalf("upgrade gave up with %v: the lease is still held", err)
	}
	if !errors.Is(err, ErrConflict) {
		t.Fatalf("upgrade gave up with %v, want ErrConflict", err)
	}
	if n := busy.updates.Load(); n != maxConvertTries+1 {
		t.Errorf("%d conditional writes, want %d (bounded retries)", n, maxConvertTries+1)
	}
	if l.Mode() != Shared || l.Lost() != nil {
		t.Fatalf("after giving up: mode %v, lost %v; want shared, held", l.Mode(), l.Lost())
	}
	if _, err := b.Named(ctx, "busy", NoWait()); !errors.Is(err, ErrConflict) {
		t.Fatalf("writer beside the lease that gave up upgrading: %v, want ErrConflict", err)
	}
	onBackend(l, real)
	if err := l.Upgrade(ctx); err != nil {
		t.Fatalf("upgrade once the queue is quiet: %v", err)
	}
	if err := l.Release(ctx); err != nil {
		t.Fatalf("release: %v", err)
	}
}

// TestUpgradeOfChangedEntryIsNotHeld: an upgrade that finds its entry
// rewritten by someone else fails at once with ErrNotHeld rather than
// retrying a write that can never succeed.
func TestUpgradeOfChangedEntryIsNotHeld(t *testing.T) {
	h := newTestHost(t, t.TempDir())
	ctx := testCtx(t)
	l := mustLock(t, h, "changed", WithMode(Shared))
	be := l.sess.backend()
	if _, err := be.Update(ctx, sdk.UpdateRequest{Resource: "changed", Key: l.key,
		Value: encodeRequest(l.stored()), ExpectRev: l.entryRev()}); err != nil {
		t.Fatal(err)
	}
	counting := &busyBackend{Backend: be, newcomer: func(context.Context) error { return nil }}
	onBackend(l, counting)
	if err := l.Upgrade(ctx); !errors.Is(err, ErrNotHeld) {
		t.Fatalf("upgrade of an entry changed under the lease: %v, want ErrNotHeld", err)
	}
	if n := counting.updates.Load(); n != 0 {
		t.Fatalf("%d writes tried on an entry changed under the lease, want none", n)
	}
}
