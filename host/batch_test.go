package host

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
	"testing"
	"time"

	"github.com/locksmithx/locksmith/config"
	"github.com/locksmithx/locksmith/internal/redistest"
)

// A batch that meets a held resource part way waits for it holding only
// the resources before it; the requests after it, sent ahead, are released
// again. When the resource is free, the batch takes it and the rest.
func TestBatchWaitsHoldingOnlyWhatComesBefore(t *testing.T) {
	dir := t.TempDir()
	a, b := newTestHost(t, dir), newTestHost(t, dir)
	ctx := testCtx(t)
	m := mustLock(t, a, "m")
	reqs := []BatchRequest{{Resource: "z"}, {Resource: "a"}, {Resource: "m"}}
	done := make(chan error, 1)
	var batch *Batch
	go func() {
		var err error
		batch, err = b.LockBatch(ctx, reqs)
		done <- err
	}()
	held := func(name string) int {
		st, err := a.Status(ctx, name)
		if err != nil {
			t.Fatal(err)
		}
		return len(st.Holders) + len(st.Waiters)
	}
	// Wait until the batch waits on m holding a alone. Its try of m (put,
	// then withdrawn) and its tries of what follows m come and go first;
	// a batch that kept z while waiting never gets there.
	deadline := time.Now().Add(10 * time.Second)
	for held("m") != 2 || held("a") != 1 || held("z") != 0 {
		if time.Now().After(deadline) {
			t.Fatalf("while the batch waits for m: m has %d requests (want the holder and the batch), a %d (want 1), z %d (want 0: a batch must not hold what comes after the resource it waits for)",
				held("m"), held("a"), held("z"))
		}
		time.Sleep(10 * time.Millisecond)
	}
	// Another host can take z meanwhile.
	z, err := a.Named(ctx, "z", NoWait())
	if err != nil {
		t.Fatalf("z while the batch waits for m: %v", err)
	}
	_ = z.Release(ctx)
	if err := m.Release(ctx); err != nil {
		t.Fatal(err)
	}
	if err := <-done; err != nil {
		t.Fatalf("batch after m was released: %v", err)
	}
	if len(batch.Leases) != 3 || held("z") != 1 {
		t.Fatalf("batch holds %d leases", len(batch.Leases))
	}
	if err := batch.Release(ctx); err != nil {
		t.Fatal(err)
	}
}

// Batches of overlapping resources, in every order, from goroutines of two
// hosts (each with its own plugin process) all complete — none waits for
// another forever — and no resource is ever held by two at once; each
// resource's fencing tokens rise in the order it was held.
func TestBatchesOverlapWithoutDeadlockOrDoubleGrant(t *testing.T) {
	dir := t.TempDir()
	hosts := []*Host{newTestHost(t, dir), newTestHost(t, dir)}
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	names := []string{"r0", "r1", "r2", "r3", "r4", "r5"}
	var (
		mu      sync.Mutex
		holder  = map[string]string{}
		last    = map[string]int64{}
		errs    []error
		granted int
	)
	fail := func(err error) {
		mu.Lock()
		errs = append(errs, err)
		mu.Unlock()
	}
	const perWorker = 15
	var wg sync.WaitGroup
	for hi, h := range hosts {
		for w := 0; w < 3; w++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				rng := rand.New(rand.NewPCG(uint64(hi), uint64(w)))
				me := fmt.Sprintf("host%d/worker%d", hi, w)
				for i := 0; i < perWorker; i++ {
					var reqs []BatchRequest
					for _, j := range rng.Perm(len(names))[:3] {
						reqs = append(reqs, BatchRequest{Resource: names[j]})
					}
					b, err := h.LockBatch(ctx, reqs)
					if err != nil {
						fail(fmt.Errorf("%s: batch %d: %w", me, i, err))
						return
					}
					mu.Lock()
					for _, l := range b.Leases {
						if other := holder[l.Resource()]; other != "" {
							errs = append(errs, fmt.Errorf("%s granted %s while %s holds it", me, l.Resource(), other))
						}
						holder[l.Resource()] = me
						if l.Token() <= last[l.Resource()] {
							errs = append(errs, fmt.Errorf("%s: token %d on %s after %d", me, l.Token(), l.Resource(), last[l.Resource()]))
						}
						last[l.Resource()] = l.Token()
					}
					granted++
					mu.Unlock()
					time.Sleep(time.Millisecond)
					mu.Lock()
					for _, l := range b.Leases {
						delete(holder, l.Resource())
					}
					mu.Unlock()
					if err := b.Release(ctx); err != nil {
						fail(fmt.Errorf("%s: release batch %d: %w", me, i, err))
						return
					}
				}
			}()
		}
	}
	wg.Wait()
	for _, err := range errs {
		t.Error(err)
	}
	if errors.Is(ctx.Err(), context.DeadlineExceeded) {
		t.Fatalf("batches did not finish within 90 s: %d of %d granted", granted, 2*3*perWorker)
	}
	t.Logf("%d batches granted", granted)
}

// The writes of many concurrent requests reach the plugin in Batch calls,
// and every one of them is applied as its own call would be.
func TestConcurrentWritesAreBatched(t *testing.T) {
	h := newTestHost(t, t.TempDir())
	ctx := testCtx(t)
	var reqs []BatchRequest
	for i := 0; i < 300; i++ {
		reqs = append(reqs, BatchRequest{Resource: fmt.Sprintf("job-%03d", i)})
	}
	b, err := h.LockBatch(ctx, reqs)
	if err != nil {
		t.Fatal(err)
	}
	m := h.Metrics()
	if m.Batches == 0 || m.BatchedWrites <= m.Batches {
		t.Errorf("300 requests sent at once: %d writes in %d batches, want batches of several", m.BatchedWrites, m.Batches)
	}
	tree, err := h.Tree(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if n := countHeld(tree); n != 300 {
		t.Fatalf("Tree shows %d held, want 300", n)
	}
	for _, l := range b.Leases {
		if l.Token() <= 0 {
			t.Fatalf("%s granted with token %d", l.Resource(), l.Token())
		}
	}
	if err := b.Release(ctx); err != nil {
		t.Fatal(err)
	}
	tree, err = h.Tree(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if n := countHeld(tree); n != 0 {
		t.Fatalf("Tree shows %d held after the release, want 0", n)
	}
	t.Logf("%d writes in %d batches", h.Metrics().BatchedWrites, m.Batches)
}

// TestBatchSurvivesPluginCrash: kill -9 of the plugin while a batch's
// requests are in flight (many of them in Batch calls) costs a restart:
// the batch then holds every resource exactly once — a write that reached
// the store before the crash and was sent again is not a second request —
// another host can take none of them, and once the batch is released,
// nothing is left in any queue.
func TestBatchSurvivesPluginCrash(t *testing.T) {
	t.Run("file", func(t *testing.T) {
		testBatchSurvivesPluginCrash(t, testConfig(t.TempDir()))
	})
	t.Run("redis", func(t *testing.T) {
		redistest.Require(t)
		srv := redistest.Start(t)
		testBatchSurvivesPluginCrash(t, redisConfig(srv.Addr, "batchcrash:"))
	})
}

func testBatchSurvivesPluginCrash(t *testing.T, cfg config.Config) {
	ctx := testCtx(t)
	h1, h2 := newHostFrom(t, cfg), newHostFrom(t, cfg)
	const n = 400
	var reqs []BatchRequest
	for i := 0; i < n; i++ {
		reqs = append(reqs, BatchRequest{Resource: fmt.Sprintf("crash-batch-%03d", i)})
	}
	// Start the plugin, so that the kill finds it.
	warm, err := h1.Named(ctx, "crash-batch-warm")
	if err != nil {
		t.Fatal(err)
	}
	_ = warm.Release(ctx)
	type result struct {
		b   *Batch
		err error
	}
	done := make(chan result, 1)
	go func() {
		b, err := h1.LockBatch(ctx, reqs)
		done <- result{b, err}
	}()
	// Kill once part of the batch is granted.
	deadline := time.Now().Add(10 * time.Second)
	for h1.Metrics().Acquisitions < 40 {
		if time.Now().After(deadline) {
			t.Fatal("the batch did not start within 10 s")
		}
		time.Sleep(time.Millisecond)
	}
	killPlugin(t, h1)
	r := <-done
	if r.err != nil {
		t.Fatalf("batch across a plugin crash: %v", r.err)
	}
	m := h1.Metrics()
	t.Logf("%d writes in %d batches; %d plugin restarts", m.BatchedWrites, m.Batches, m.PluginRestarts)
	tree, err := h2.Tree(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if got := countHeld(tree); got != n {
		t.Errorf("another host sees %d held, want %d", got, n)
	}
	var walk func(*TreeNode)
	walk = func(nd *TreeNode) {
		if nd.Status != nil && len(nd.Status.Holders)+len(nd.Status.Waiters) > 1 {
			t.Errorf("%s has %d holders and %d waiters, want its one holder", nd.Path, len(nd.Status.Holders), len(nd.Status.Waiters))
		}
		for _, c := range nd.Children {
			walk(c)
		}
	}
	walk(tree)
	for _, i := range []int{0, n / 2, n - 1} {
		if l, err := h2.Named(ctx, reqs[i].Resource, NoWait()); !errors.Is(err, ErrConflict) {
			if l != nil {
				_ = l.Release(ctx)
			}
			t.Errorf("another host's try-lock of %s after the crash: %v, want ErrConflict", reqs[i].Resource, err)
		}
	}
	if err := r.b.Release(ctx); err != nil {
		t.Fatalf("release: %v", err)
	}
	tree, err = h2.Tree(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if got := countHeld(tree); got != 0 {
		t.Errorf("%d resources still held after the release, want none", got)
	}
}
