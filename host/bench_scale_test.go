package host

import (
	"context"
	"fmt"
	"os"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// BenchmarkScale holds many locks in one host on the file backend and
// reports, for each count held (LOCKSMITH_BENCH_SCALE, default
// "1000,10000"; `make bench` adds 100000):
//
//   - acquire-µs: wall time per acquire while taking them, 32 at a time;
//   - tree-ms: one Tree of all of them (the op the benchmark times);
//   - heap-B/lock: the host's heap and stack growth per held lock, after
//     a GC;
//   - renewals/interval: session renewals per renewal interval (TTL/3)
//     while they are held — one, whatever the count.
//
// Run it alone: go test -run '^$' -bench Scale -benchtime 1x ./host/
func BenchmarkScale(b *testing.B) {
	for _, n := range benchCounts(b, "LOCKSMITH_BENCH_SCALE") {
		b.Run(fmt.Sprintf("held=%d", n), func(b *testing.B) { benchScale(b, n) })
	}
}

func benchScale(b *testing.B, n int) {
	// A longer lease than the tests' 3 s: taking 10⁵ locks on a loaded
	// machine must not starve the session's renewal.
	cfg := testConfig(b.TempDir())
	cfg.Lease.TTL = 6 * time.Second
	h := newHostFrom(b, cfg)
	ctx := context.Background()
	// Warm the host: the first acquire opens its session.
	l, err := h.Named(ctx, "scale/warm")
	if err != nil {
		b.Fatal(err)
	}
	if err := l.Release(ctx); err != nil {
		b.Fatal(err)
	}

	before := heapInUse()
	leases := make([]*Lease, n)
	const workers = 32
	var wg sync.WaitGroup
	errs := make(chan error, workers)
	start := time.Now()
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := w; i < n; i += workers {
				l, err := h.Named(ctx, fmt.Sprintf("scale/%07d", i))
				if err != nil {
					errs <- err
					return
				}
				leases[i] = l
			}
		}()
	}
	wg.Wait()
	took := time.Since(start)
	close(errs)
	if err := <-errs; err != nil {
		b.Fatalf("acquire: %v", err)
	}
	perLock := float64(heapInUse()-before) / float64(n)

	renewals := func() int { return h.Metrics().Renewal.Count }
	interval := h.Config().Lease.TTL / 3
	r0, t0 := renewals(), time.Now()
	time.Sleep(2*interval + interval/2)
	perInterval := float64(renewals()-r0) / (float64(time.Since(t0)) / float64(interval))

	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		tree, err := h.Tree(ctx)
		if err != nil {
			b.Fatal(err)
		}
		if got := countHeld(tree); got != n {
			b.Fatalf("Tree shows %d held locks, want %d (%d leases lost)", got, n, h.Metrics().LostLeases)
		}
	}
	b.StopTimer()
	b.ReportMetric(float64(b.Elapsed().Milliseconds())/float64(b.N), "tree-ms")
	b.ReportMetric(float64(took.Microseconds())/float64(n), "acquire-µs")
	b.ReportMetric(perLock, "heap-B/lock")
	b.ReportMetric(perInterval, "renewals/interval")
	for _, l := range leases {
		_ = l.Release(ctx)
	}
}

// benchCounts is the counts the environment variable env lists
// ("1000,10000" when unset).
func benchCounts(b *testing.B, env string) []int {
	v := os.Getenv(env)
	if v == "" {
		return []int{1000, 10000}
	}
	var counts []int
	for _, f := range strings.Split(v, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || n <= 0 {
			b.Fatalf("%s=%q: want counts like 1000,10000", env, v)
		}
		counts = append(counts, n)
	}
	return counts
}

// heapInUse is the live heap after a full collection, goroutine stacks
// included.
func heapInUse() uint64 {
	runtime.GC()
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return ms.HeapAlloc + ms.StackInuse
}

// countHeld counts the holders in a tree.
func countHeld(n *TreeNode) int {
	c := 0
	if n.Status != nil {
		c += len(n.Status.Holders)
	}
	for _, ch := range n.Children {
		c += countHeld(ch)
	}
	return c
}
