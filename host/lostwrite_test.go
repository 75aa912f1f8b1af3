package host

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/locksmithx/locksmith/sdk"
)

// lateBackend is the real store with one write that lands late: once
// armed, its next Update answers only when the caller's context ends, and
// is applied after the next Range has been answered, as a loaded backend
// may apply a write whose caller has given up on it. The read-back that
// follows a lost answer therefore does not see the write; later reads do.
type lateBackend struct {
	sdk.Backend
	armed  atomic.Bool
	landed chan error // the late write's own result

	mu   sync.Mutex
	held *sdk.UpdateRequest
}

func newLateBackend(be sdk.Backend) *lateBackend {
	return &lateBackend{Backend: be, landed: make(chan error, 1)}
}

func (b *lateBackend) Update(ctx context.Context, req sdk.UpdateRequest) (sdk.UpdateResult, error) {
	if !b.armed.CompareAndSwap(true, false) {
		return b.Backend.Update(ctx, req)
	}
	<-ctx.Done()
	b.mu.Lock()
	b.held = &req
	b.mu.Unlock()
	return sdk.UpdateResult{}, ctx.Err()
}

func (b *lateBackend) Range(ctx context.Context, resource string) (sdk.RangeResult, error) {
	r, err := b.Backend.Range(ctx, resource)
	b.mu.Lock()
	req := b.held
	b.held = nil
	b.mu.Unlock()
	if req != nil {
		_, lerr := b.Backend.Update(context.Background(), *req)
		b.landed <- lerr
	}
	return r, err
}

// wasLate fails the test unless the armed write landed, late.
func (b *lateBackend) wasLate(t *testing.T) {
	t.Helper()
	select {
	case err := <-b.landed:
		if err != nil {
			t.Fatalf("the late write did not land: %v", err)
		}
	default:
		t.Fatal("the armed write was never applied")
	}
}

// TestLateUpgradeWriteIsWithdrawn: an upgrade runs into its deadline while
// its pending-upgrade write is in flight, and that write lands after the
// lease has read its entry back. The lease must still withdraw the pending
// upgrade (which would hold back every newcomer), stay held in its old
// mode, upgrade later and release. Before, the withdrawal named the
// revision from before the late write, failed, and lost the session.
func TestLateUpgradeWriteIsWithdrawn(t *testing.T) {
	dir := t.TempDir()
	a, b := newTestHost(t, dir), newTestHost(t, dir)
	ctx := testCtx(t)
	other := mustLock(t, a, "late", WithMode(Shared))
	l := mustLock(t, b, "late", WithMode(Shared))
	late := newLateBackend(l.sess.backend())
	onBackend(l, late)
	late.armed.Store(true)

	uctx, cancel := context.WithTimeout(ctx, 200*time.Millisecond)
	err := l.Upgrade(uctx)
	cancel()
	if !errors.Is(err, ErrTimeout) {
		t.Fatalf("upgrade past its deadline: %v, want ErrTimeout", err)
	}
	late.wasLate(t)
	if err := l.Lost(); err != nil {
		t.Fatalf("the lease was lost after its upgrade timed out: %v", err)
	}
	if m := l.Mode(); m != Shared {
		t.Fatalf("mode after the upgrade timed out: %v, want shared", m)
	}
	// A pending upgrade left in the entry would refuse a new reader.
	r, err := a.Named(ctx, "late", WithMode(Shared), NoWait())
	if err != nil {
		t.Fatalf("a reader after the withdrawn upgrade: %v", err)
	}
	if err := r.Release(ctx); err != nil {
		t.Fatal(err)
	}
	if err := other.Release(ctx); err != nil {
		t.Fatal(err)
	}
	if err := l.Upgrade(ctx); err != nil {
		t.Fatalf("upgrade once alone: %v", err)
	}
	if err := l.Release(ctx); err != nil {
		t.Fatalf("release: %v", err)
	}
	w, err := a.Named(ctx, "late", NoWait())
	if err != nil {
		t.Fatalf("writer after the release: %v", err)
	}
	_ = w.Release(ctx)
}

// TestReleaseAfterLateWrite: a downgrade's answer is lost and its write
// lands late. The release that follows must still delete the entry: before,
// it named the revision from before the write, was refused, reported the
// lease released and left its entry holding the lock until the session
// ended.
func TestReleaseAfterLateWrite(t *testing.T) {
	dir := t.TempDir()
	a, b := newTestHost(t, dir), newTestHost(t, dir)
	ctx := testCtx(t)
	l := mustLock(t, b, "late-release")
	late := newLateBackend(l.sess.backend())
	onBackend(l, late)
	late.armed.Store(true)

	dctx, cancel := context.WithTimeout(ctx, 100*time.Millisecond)
	err := l.Downgrade(dctx)
	cancel()
	if err == nil {
		t.Fatal("a downgrade whose answer never came succeeded")
	}
	late.wasLate(t)
	if err := l.Release(ctx); err != nil {
		t.Fatalf("release after the late write: %v", err)
	}
	w, err := a.Named(ctx, "late-release", NoWait())
	if err != nil {
		t.Fatalf("writer after the release: %v (the released entry still holds the lock)", err)
	}
	_ = w.Release(ctx)
}

// TestLateUpgradeLandsAsHeld: an upgrade with nothing in its way runs into
// its deadline while its write is in flight, and the write lands late. The
// lease then holds what its entry says: it reports the upgrade done and
// keeps every reader out. Before the fix for lost writes, withdrawing the
// pending upgrade would have written the old mode back while the lease
// took the new one, or lost the session.
func TestLateUpgradeLandsAsHeld(t *testing.T) {
	dir := t.TempDir()
	a, b := newTestHost(t, dir), newTestHost(t, dir)
	ctx := testCtx(t)
	l := mustLock(t, b, "late-upgrade", WithMode(Shared))
	late := newLateBackend(l.sess.backend())
	onBackend(l, late)
	late.armed.Store(true)

	uctx, cancel := context.WithTimeout(ctx, 100*time.Millisecond)
	err := l.Upgrade(uctx)
	cancel()
	late.wasLate(t)
	if err != nil {
		t.Fatalf("upgrade whose write landed late: %v, want it done", err)
	}
	if m := l.Mode(); m != Exclusive {
		t.Fatalf("mode after the late upgrade: %v, want exclusive", m)
	}
	if r, err := a.Named(ctx, "late-upgrade", WithMode(Shared), NoWait()); !errors.Is(err, ErrConflict) {
		if err == nil {
			_ = r.Release(ctx)
		}
		t.Fatalf("a reader beside the upgraded lease: %v, want ErrConflict", err)
	}
	if err := l.Release(ctx); err != nil {
		t.Fatalf("release: %v", err)
	}
	w, err := a.Named(ctx, "late-upgrade", NoWait())
	if err != nil {
		t.Fatalf("writer after the release: %v", err)
	}
	_ = w.Release(ctx)
}
