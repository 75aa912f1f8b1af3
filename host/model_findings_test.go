package host

import (
	"context"
	"errors"
	"testing"
	"time"
)

// Tests for what TestLockModel found, each small enough to read on its own.

// TestWaitDeadlineIsErrTimeout: a wait that ends at the caller's deadline
// must say ErrTimeout (DESIGN.md: "Every wait honours ctx and ends with a
// distinct ErrTimeout"), for an acquire and for an upgrade alike. The
// backend's watch carries the same deadline and can end first, with the
// bare context.DeadlineExceeded, while ctx.Err() is still nil.
func TestWaitDeadlineIsErrTimeout(t *testing.T) {
	dir := t.TempDir()
	a, b := newTestHost(t, dir), newTestHost(t, dir)
	ctx := testCtx(t)
	held := mustLock(t, a, "deadline", WithMode(Shared))
	reader := mustLock(t, b, "deadline", WithMode(Shared))
	bad := map[string]int{}
	var lastBad error
	for i := 0; i < 100; i++ {
		wctx, cancel := context.WithTimeout(ctx, time.Duration(10+i%20)*time.Millisecond)
		var err error
		if i%2 == 0 {
			_, err = b.Named(wctx, "deadline", WithMode(Exclusive))
		} else {
			err = reader.Upgrade(wctx)
		}
		cancel()
		if !errors.Is(err, ErrTimeout) {
			bad[map[bool]string{true: "acquire", false: "upgrade"}[i%2 == 0]]++
			lastBad = err
		}
	}
	if len(bad) > 0 {
		t.Errorf("waits that ran into their deadline did not end with ErrTimeout: %v; the last said %q (bare context.DeadlineExceeded: %v)",
			bad, lastBad, lastBad == context.DeadlineExceeded)
	}
	_ = reader.Release(ctx)
	_ = held.Release(ctx)
}

// TestPendingUpgradeLeavesLeaseUsable: while an upgrade waits, the lease
// must still answer Mode ("the mode the lease holds now"), be releasable
// within the context Release is given, and let its host Close ("releases
// every lease still held"). Convert holds the lease's mutex for its whole
// wait, so all three wait for the upgrade instead — Close forever if the
// upgrade's context has no deadline.
func TestPendingUpgradeLeavesLeaseUsable(t *testing.T) {
	dir := t.TempDir()
	a, b := newTestHost(t, dir), newTestHost(t, dir)
	ctx := testCtx(t)
	other := mustLock(t, a, "pending", WithMode(Shared))
	l := mustLock(t, b, "pending", WithMode(Shared))
	upgraded := make(chan error, 1)
	go func() { upgraded <- l.Upgrade(ctx) }()
	waitFor(t, func() bool { return waitingUpgrade(a, ctx, "pending") })
	// However this ends, let the upgrade through so nothing stays blocked.
	defer func() {
		_ = other.Release(ctx)
		<-upgraded
	}()

	within := func(d time.Duration, f func()) bool {
		done := make(chan struct{})
		go func() { f(); close(done) }()
		select {
		case <-done:
			return true
		case <-time.After(d):
			return false
		}
	}
	var mode Mode
	if !within(time.Second, func() { mode = l.Mode() }) {
		t.Error("Mode() of a lease with a pending upgrade blocks until the upgrade ends")
	} else if mode != Shared {
		t.Errorf("Mode() during a pending upgrade = %v, want shared", mode)
	}
	if !within(2*time.Second, func() {
		rctx, cancel := context.WithTimeout(ctx, 500*time.Millisecond)
		defer cancel()
		_ = l.Release(rctx)
	}) {
		t.Error("Release(ctx) of a lease with a pending upgrade ignores ctx and blocks until the upgrade ends")
	}
	if !within(7*time.Second, func() { _ = b.Close() }) {
		t.Error("Host.Close blocks while one of its leases waits to upgrade (its release waits for the upgrade)")
	}
}

// TestUpgradeStopsWaitingForBlockerThatSteppedDown: "An upgrade waits only
// for the granted requests it conflicts with" (Lease.Convert,
// DESIGN.md). An upgrade IS->SIX waits for an IX holder; when that holder
// downgrades to IS, which SIX admits, nothing granted conflicts with the
// upgrade any more, so it must complete. It waits instead until the
// former blocker releases: awaitUpgrade waits for the blockers recorded
// at its decision to leave the queue, whatever their mode has become.
func TestUpgradeStopsWaitingForBlockerThatSteppedDown(t *testing.T) {
	dir := t.TempDir()
	a, b := newTestHost(t, dir), newTestHost(t, dir)
	ctx := testCtx(t)
	up := mustLock(t, a, "stepdown", WithMode(IntentShared))
	blocker := mustLock(t, b, "stepdown", WithMode(IntentExclusive))
	done := make(chan error, 1)
	go func() { done <- up.Convert(ctx, SharedIntentExclusive) }()
	waitFor(t, func() bool { return waitingUpgrade(a, ctx, "stepdown") })
	if err := blocker.Convert(ctx, IntentShared); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-done:
		if err != nil || up.Mode() != SharedIntentExclusive {
			t.Fatalf("upgrade: %v, mode %v", err, up.Mode())
		}
	case <-time.After(2 * time.Second):
		t.Error("upgrade IS->SIX still waits 2s after its only blocker stepped down from IX to IS, which SIX admits")
		_ = blocker.Release(ctx)
		<-done
	}
	_ = blocker.Release(ctx)
	_ = up.Release(ctx)
}

// TestErrLostOnlyForLostLeases: ErrLost means "a lease ended without being
// released". A conversion interrupted because its own lease was released
// says ErrLost ("its entry is gone") although Lost() is nil; a request
// still waiting when its host closes says ErrLost ("session closed") where
// ErrClosed ("the host was closed") is what happened.
func TestErrLostOnlyForLostLeases(t *testing.T) {
	t.Run("upgrade of a released lease", func(t *testing.T) {
		dir := t.TempDir()
		a, b := newTestHost(t, dir), newTestHost(t, dir)
		ctx := testCtx(t)
		other := mustLock(t, a, "released", WithMode(Shared))
		defer other.Release(ctx)
		l := mustLock(t, b, "released", WithMode(Shared))
		done := make(chan error, 1)
		go func() { done <- l.Upgrade(ctx) }()
		waitFor(t, func() bool { return waitingUpgrade(a, ctx, "released") })
		if err := l.Release(ctx); err != nil {
			t.Fatal(err)
		}
		err := <-done
		if l.Lost() != nil || errors.Is(err, ErrLost) || !errors.Is(err, ErrNotHeld) {
			t.Errorf("upgrade interrupted by its own release: %v (Lost() = %v), want ErrNotHeld, not ErrLost", err, l.Lost())
		}
	})
	t.Run("wait ended by Close", func(t *testing.T) {
		dir := t.TempDir()
		a, b := newTestHost(t, dir), newTestHost(t, dir)
		ctx := testCtx(t)
		held := mustLock(t, a, "closed")
		defer held.Release(ctx)
		done := make(chan error, 1)
		go func() {
			_, err := b.Named(ctx, "closed")
			done <- err
		}()
		waitFor(t, func() bool {
			st, _ := a.Status(ctx, "closed")
			return len(st.Waiters) == 1
		})
		if err := b.Close(); err != nil {
			t.Fatal(err)
		}
		if err := <-done; errors.Is(err, ErrLost) || !errors.Is(err, ErrClosed) {
			t.Errorf("wait ended by its host's Close: %v, want ErrClosed, not ErrLost", err)
		}
	})
}
