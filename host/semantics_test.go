package host

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"
)

func mustLock(t *testing.T, h *Host, name string, opts ...LockOption) *Lease {
	t.Helper()
	l, err := h.Named(testCtx(t), name, opts...)
	if err != nil {
		t.Fatalf("lock %s: %v", name, err)
	}
	return l
}

func TestUpgradeWaitsForReadersAndKeepsToken(t *testing.T) {
	dir := t.TempDir()
	a, b, c := newTestHost(t, dir), newTestHost(t, dir), newTestHost(t, dir)
	ctx := testCtx(t)
	r1 := mustLock(t, a, "u", WithMode(Shared))
	r2 := mustLock(t, b, "u", WithMode(Shared))
	done := make(chan error, 1)
	go func() { done <- r1.Upgrade(ctx) }()
	waitFor(t, func() bool {
		st, _ := c.Status(ctx, "u")
		return len(st.Holders) == 2 && st.Holders[0].Mode == "shared" && waitingUpgrade(c, ctx, "u")
	})
	// Newcomers are checked against the upgrade's target: they wait.
	if _, err := c.Named(ctx, "u", WithMode(Shared), NoWait()); !errors.Is(err, ErrConflict) {
		t.Fatalf("reader during a pending upgrade: %v, want ErrConflict", err)
	}
	select {
	case err := <-done:
		t.Fatalf("upgrade finished while another reader held: %v", err)
	default:
	}
	if r1.Mode() != Shared {
		t.Fatalf("mode %v while the upgrade waits, want shared", r1.Mode())
	}
	tok := r1.Token()
	if err := r2.Release(ctx); err != nil {
		t.Fatal(err)
	}
	if err := <-done; err != nil {
		t.Fatalf("upgrade: %v", err)
	}
	if r1.Mode() != Exclusive || r1.Token() != tok {
		t.Fatalf("after upgrade: mode %v token %d, want exclusive and %d", r1.Mode(), r1.Token(), tok)
	}
	if _, err := c.Named(ctx, "u", WithMode(Shared), NoWait()); !errors.Is(err, ErrConflict) {
		t.Fatalf("reader beside an upgraded writer: %v", err)
	}
	// Downgrade never waits and lets readers in.
	if err := r1.Downgrade(ctx); err != nil {
		t.Fatal(err)
	}
	r3, err := c.Named(ctx, "u", WithMode(Shared), NoWait())
	if err != nil {
		t.Fatalf("reader after downgrade: %v", err)
	}
	_ = r3.Release(ctx)
	_ = r1.Release(ctx)
}

// waitingUpgrade reports whether some entry of name has a pending upgrade.
func waitingUpgrade(h *Host, ctx context.Context, name string) bool {
	be, _, err := h.Backend(ctx)
	if err != nil {
		return false
	}
	r, err := be.Range(ctx, name)
	if err != nil {
		return false
	}
	for _, q := range newQueue(r.Entries) {
		if q.target != 0 {
			return true
		}
	}
	return false
}

func TestTwoReadersUpgradingOneDeadlocks(t *testing.T) {
	dir := t.TempDir()
	a, b := newTestHost(t, dir), newTestHost(t, dir)
	ctx := testCtx(t)
	r1 := mustLock(t, a, "d", WithMode(Shared))
	r2 := mustLock(t, b, "d", WithMode(Shared))
	first := make(chan error, 1)
	go func() { first <- r1.Upgrade(ctx) }()
	waitFor(t, func() bool { return waitingUpgrade(a, ctx, "d") })
	start := time.Now()
	err := r2.Upgrade(ctx)
	if !errors.Is(err, ErrDeadlock) {
		t.Fatalf("second upgrade: %v, want ErrDeadlock", err)
	}
	if d := time.Since(start); d > time.Second {
		t.Errorf("deadlock reported after %s, want at once", d)
	}
	if r2.Mode() != Shared || r2.Lost() != nil {
		t.Fatalf("the refused upgrader must keep its shared lock: mode %v, lost %v", r2.Mode(), r2.Lost())
	}
	if err := r2.Release(ctx); err != nil {
		t.Fatal(err)
	}
	if err := <-first; err != nil || r1.Mode() != Exclusive {
		t.Fatalf("first upgrade: %v, mode %v", err, r1.Mode())
	}
	_ = r1.Release(ctx)
}

func TestUpdateModeExcludesUpdateNotReaders(t *testing.T) {
	dir := t.TempDir()
	a, b := newTestHost(t, dir), newTestHost(t, dir)
	ctx := testCtx(t)
	u := mustLock(t, a, "upd", WithMode(Update))
	if _, err := b.Named(ctx, "upd", WithMode(Update), NoWait()); !errors.Is(err, ErrConflict) {
		t.Fatalf("second update holder: %v, want ErrConflict", err)
	}
	s := mustLock(t, b, "upd", WithMode(Shared), NoWait())
	if can, err := u.CanUpgrade(ctx); err != nil || can {
		t.Fatalf("CanUpgrade with a reader present: %v, %v", can, err)
	}
	_ = s.Release(ctx)
	if can, err := u.CanUpgrade(ctx); err != nil || !can {
		t.Fatalf("CanUpgrade alone: %v, %v", can, err)
	}
	if err := u.Upgrade(ctx); err != nil {
		t.Fatal(err)
	}
	_ = u.Release(ctx)
}

func TestSemaphoreLimit(t *testing.T) {
	dir := t.TempDir()
	hosts := []*Host{newTestHost(t, dir), newTestHost(t, dir), newTestHost(t, dir)}
	ctx := testCtx(t)
	l1 := mustLock(t, hosts[0], "sem", WithMode(Shared), WithLimit(2))
	l2 := mustLock(t, hosts[1], "sem", WithMode(Shared), WithLimit(2))
	if _, err := hosts[2].Named(ctx, "sem", WithMode(Shared), WithLimit(2), NoWait()); !errors.Is(err, ErrConflict) {
		t.Fatalf("third holder of a 2-semaphore: %v", err)
	}
	got := make(chan *Lease, 1)
	go func() {
		l, err := hosts[2].Named(ctx, "sem", WithMode(Shared), WithLimit(2))
		if err != nil {
			t.Error(err)
		}
		got <- l
	}()
	// The third request is queued and not granted while both slots are
	// held.
	waitFor(t, func() bool {
		st, err := hosts[0].Status(ctx, "sem")
		return err == nil && len(st.Holders) == 2 && len(st.Waiters) == 1 && !st.Waiters[0].Granted
	})
	select {
	case l := <-got:
		t.Fatalf("third holder of a 2-semaphore granted (token %d) while both slots were held", l.Token())
	default:
	}
	if err := l1.Release(ctx); err != nil {
		t.Fatal(err)
	}
	l3 := <-got
	if l3 == nil {
		t.FailNow()
	}
	if l3.Token() <= l2.Token() {
		t.Fatalf("third holder's token %d not above %d", l3.Token(), l2.Token())
	}
	st, err := hosts[0].Status(ctx, "sem")
	if err != nil || len(st.Holders) != 2 || len(st.Waiters) != 0 {
		t.Fatalf("after one slot freed: %+v, %v; want 2 holders, no waiter", st, err)
	}
	_ = l2.Release(ctx)
	_ = l3.Release(ctx)
}

func TestHierarchicalLocks(t *testing.T) {
	dir := t.TempDir()
	a, b := newTestHost(t, dir), newTestHost(t, dir)
	ctx := testCtx(t)
	leaf, err := a.Hierarchical(ctx, "a/b/c")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := b.Hierarchical(ctx, "a", NoWait()); !errors.Is(err, ErrConflict) {
		t.Fatalf("X on a while a/b/c is held: %v", err)
	}
	if _, err := b.Hierarchical(ctx, "a/b", NoWait()); !errors.Is(err, ErrConflict) {
		t.Fatalf("X on a/b while a/b/c is held: %v", err)
	}
	sib, err := b.Hierarchical(ctx, "a/x", NoWait())
	if err != nil {
		t.Fatalf("sibling a/x: %v", err)
	}
	reader, err := b.Hierarchical(ctx, "a/b/d", WithMode(Shared), NoWait())
	if err != nil {
		t.Fatalf("reader of a/b/d: %v", err)
	}
	_ = sib.Release(ctx)
	_ = reader.Release(ctx)
	got := make(chan *Lease, 1)
	go func() {
		l, err := b.Hierarchical(ctx, "a")
		if err != nil {
			t.Error(err)
		}
		got <- l
	}()
	waitFor(t, func() bool {
		st, err := a.Status(ctx, "a")
		return err == nil && len(st.Waiters) == 1 && st.Waiters[0].Mode == "exclusive"
	})
	select {
	case <-got:
		t.Fatal("X on a granted while a/b/c is held")
	default:
	}
	if err := leaf.Release(ctx); err != nil {
		t.Fatal(err)
	}
	top := <-got
	if top == nil {
		t.FailNow()
	}
	if _, err := a.Hierarchical(ctx, "a/b/c", NoWait()); !errors.Is(err, ErrConflict) {
		t.Fatalf("a/b/c while X on a is held: %v", err)
	}
	_ = top.Release(ctx)
	for _, n := range []string{"a", "a/b", "a/b/c"} {
		st, _ := a.Status(ctx, n)
		if len(st.Holders)+len(st.Waiters) != 0 {
			t.Errorf("%s still has requests after release: %+v", n, st)
		}
	}
}

func TestBatchAllOrNothing(t *testing.T) {
	dir := t.TempDir()
	a, b := newTestHost(t, dir), newTestHost(t, dir)
	ctx := testCtx(t)
	y := mustLock(t, b, "y")
	_, err := a.LockBatch(ctx, []BatchRequest{{Resource: "z"}, {Resource: "y"}, {Resource: "x", Mode: Shared}}, NoWait())
	var be *BatchError
	if !errors.As(err, &be) || be.Resource != "y" || !errors.Is(err, ErrConflict) {
		t.Fatalf("batch over a held resource: %v", err)
	}
	for _, n := range []string{"x", "z"} {
		if st, _ := a.Status(ctx, n); len(st.Holders) != 0 {
			t.Fatalf("%s still held after the batch failed", n)
		}
	}
	_ = y.Release(ctx)
	batch, err := a.LockBatch(ctx, []BatchRequest{{Resource: "z"}, {Resource: "y"}, {Resource: "x", Mode: Shared}})
	if err != nil {
		t.Fatal(err)
	}
	if got := []string{batch.Leases[0].Resource(), batch.Leases[1].Resource(), batch.Leases[2].Resource()}; got[0] != "x" || got[2] != "z" {
		t.Fatalf("batch not in canonical order: %v", got)
	}
	if err := batch.Release(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := a.LockBatch(ctx, []BatchRequest{{Resource: "x"}, {Resource: "x"}}); !errors.Is(err, ErrInvalidConfig) {
		t.Fatalf("duplicate resource: %v", err)
	}
}

func TestDeadlockBetweenOwners(t *testing.T) {
	h := newTestHost(t, t.TempDir())
	ctx := testCtx(t)
	o1, o2 := NewOwner("worker-1"), NewOwner("worker-2")
	a := mustLock(t, h, "A", WithOwner(o1))
	b := mustLock(t, h, "B", WithOwner(o2))
	errs := make(chan error, 2)
	var wg sync.WaitGroup
	for _, step := range []struct {
		o    *Owner
		name string
		held *Lease
	}{{o1, "B", a}, {o2, "A", b}} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			l, err := h.Named(ctx, step.name, WithOwner(step.o))
			if err != nil {
				errs <- err
				_ = step.held.Release(ctx) // the victim gives up what it holds
				return
			}
			errs <- nil
			_ = l.Release(ctx)
			_ = step.held.Release(ctx)
		}()
	}
	wg.Wait()
	close(errs)
	var dead, ok int
	for err := range errs {
		switch {
		case err == nil:
			ok++
		case errors.Is(err, ErrDeadlock):
			dead++
		default:
			t.Fatalf("unexpected: %v", err)
		}
	}
	if dead != 1 || ok != 1 {
		t.Fatalf("%d deadlocks and %d grants, want exactly one of each", dead, ok)
	}
	if m := h.Metrics(); m.Deadlocks != 1 {
		t.Fatalf("metrics count %d deadlocks", m.Deadlocks)
	}
}

func TestConditionalLock(t *testing.T) {
	dir := t.TempDir()
	a, b := newTestHost(t, dir), newTestHost(t, dir)
	ctx := testCtx(t)
	var sawHeld bool
	_, err := a.Named(ctx, "cond", WithCondition(func(ctx context.Context, l *Lease) (bool, error) {
		_, err := b.Named(ctx, "cond", NoWait())
		sawHeld = errors.Is(err, ErrConflict)
		return false, nil
	}))
	if !errors.Is(err, ErrConditionFailed) {
		t.Fatalf("false condition: %v", err)
	}
	if !sawHeld {
		t.Fatal("the condition ran without the lock held")
	}
	l, err := b.Named(ctx, "cond", NoWait())
	if err != nil {
		t.Fatalf("lock not released after a failed condition: %v", err)
	}
	_ = l.Release(ctx)
}

func TestEventsMetricsAndTree(t *testing.T) {
	h := newTestHost(t, t.TempDir())
	ctx := testCtx(t)
	events, stop := h.Subscribe(16)
	defer stop()
	l := mustLock(t, h, "ops/db/migrate", WithMode(Shared))
	tree, err := h.Tree(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(tree.Children) != 1 || tree.Children[0].Name != "ops" ||
		tree.Children[0].Children[0].Children[0].Status == nil ||
		tree.Children[0].Children[0].Children[0].Status.Holders[0].Token != l.Token() {
		t.Fatalf("tree: %+v", tree.Children)
	}
	if _, err := h.Named(ctx, "ops/db/migrate", NoWait()); !errors.Is(err, ErrConflict) {
		t.Fatal(err)
	}
	if err := l.Convert(ctx, Exclusive); err != nil {
		t.Fatal(err)
	}
	_ = l.Release(ctx)
	want := []EventKind{EventAcquired, EventFailed, EventConverted, EventReleased}
	for _, k := range want {
		select {
		case ev := <-events:
			if ev.Kind != k || ev.Resource != "ops/db/migrate" {
				t.Fatalf("event %v on %s, want %v", ev.Kind, ev.Resource, k)
			}
		case <-time.After(2 * time.Second):
			t.Fatalf("no %v event", k)
		}
	}
	m := h.Metrics()
	if m.Acquisitions != 1 || m.Failures != 1 || m.Conflicts != 1 || m.Conversions != 1 || m.Releases != 1 || m.Active != 0 {
		t.Fatalf("metrics: %+v", m)
	}
	if m.SuccessRate != 0.5 || m.Hold.Count != 1 || m.Wait.Count != 1 {
		t.Fatalf("metrics rates: %+v", m)
	}
}

func TestReaderStreamDoesNotStarveWriter(t *testing.T) {
	dir := t.TempDir()
	a, w, r := newTestHost(t, dir), newTestHost(t, dir), newTestHost(t, dir)
	ctx := testCtx(t)
	ahead := mustLock(t, a, "starve", WithMode(Shared))
	type grant struct {
		token int64
		at    time.Time
	}
	writer := make(chan grant, 1)
	go func() {
		l, err := w.Named(ctx, "starve")
		if err != nil {
			t.Error(err)
			writer <- grant{}
			return
		}
		writer <- grant{l.Token(), time.Now()}
		time.Sleep(20 * time.Millisecond)
		_ = l.Release(ctx)
	}()
	waitFor(t, func() bool { st, _ := a.Status(ctx, "starve"); return len(st.Waiters) == 1 })

	// A steady stream of readers, each holding briefly.
	stop := make(chan struct{})
	var mu sync.Mutex
	var readers []grant
	var wg sync.WaitGroup
	for i := 0; i < 4; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				l, err := r.Named(ctx, "starve", WithMode(Shared))
				if err != nil {
					t.Error(err)
					return
				}
				mu.Lock()
				readers = append(readers, grant{l.Token(), time.Now()})
				mu.Unlock()
				time.Sleep(5 * time.Millisecond)
				_ = l.Release(ctx)
			}
		}()
	}
	// Let the stream run: some readers behind the writer try (and wait).
	waitFor(t, func() bool {
		st, err := a.Status(ctx, "starve")
		return err == nil && len(st.Waiters) >= 2
	})
	released := time.Now()
	if err := ahead.Release(ctx); err != nil {
		t.Fatal(err)
	}
	g := <-writer
	close(stop)
	wg.Wait()
	if g.token == 0 {
		t.FailNow()
	}
	if d := g.at.Sub(released); d > 500*time.Millisecond {
		t.Errorf("writer granted %s after the reader ahead of it left", d)
	}
	for _, rd := range readers {
		if rd.token > g.token && rd.at.Before(g.at) {
			t.Fatalf("reader with token %d (queued behind the writer's %d) was granted before it", rd.token, g.token)
		}
	}
	if len(readers) == 0 {
		t.Fatal("no reader ran after the writer")
	}
}

// TestUpgradeCycleAcrossHosts: three upgrades on one resource, each waiting
// for the next, in three hosts (so no one host's wait-for graph sees the
// cycle): the one that closes it is refused at once from the queue alone.
func TestUpgradeCycleAcrossHosts(t *testing.T) {
	dir := t.TempDir()
	a, b, c := newTestHost(t, dir), newTestHost(t, dir), newTestHost(t, dir)
	ctx := testCtx(t)
	s := mustLock(t, a, "cycle", WithMode(Shared))
	is1 := mustLock(t, b, "cycle", WithMode(IntentShared))
	is2 := mustLock(t, c, "cycle", WithMode(IntentShared))
	first := make(chan error, 1)
	go func() { first <- is2.Convert(ctx, IntentExclusive) }() // waits for the S holder
	waitFor(t, func() bool { return waitingUpgrade(a, ctx, "cycle") })
	second := make(chan error, 1)
	go func() { second <- is1.Convert(ctx, Shared) }() // waits for the IX upgrade
	waitFor(t, func() bool {
		be, _, _ := a.Backend(ctx)
		r, _ := be.Range(ctx, "cycle")
		n := 0
		for _, q := range newQueue(r.Entries) {
			if q.target != 0 {
				n++
			}
		}
		return n == 2
	})
	start := time.Now()
	err := s.Convert(ctx, IntentExclusive) // would wait for the S upgrade: a cycle
	if !errors.Is(err, ErrDeadlock) {
		t.Fatalf("third upgrade closing a cycle: %v, want ErrDeadlock", err)
	}
	if d := time.Since(start); d > time.Second {
		t.Errorf("cycle refused after %s, want at once", d)
	}
	if s.Mode() != Shared {
		t.Fatalf("refused upgrader's mode %v, want shared kept", s.Mode())
	}
	// Its holder lets go; the others' upgrades go through in turn.
	_ = s.Release(ctx)
	if err := <-first; err != nil {
		t.Fatalf("IS->IX after the cycle broke: %v", err)
	}
	_ = is2.Release(ctx)
	if err := <-second; err != nil {
		t.Fatalf("IS->S after the cycle broke: %v", err)
	}
	_ = is1.Release(ctx)
}
