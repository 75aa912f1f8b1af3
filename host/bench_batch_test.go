package host

import (
	"context"
	"fmt"
	"testing"
	"time"
)

// BenchmarkLockBatch takes a batch of n distinct resources and releases it,
// on each backend, beside the same n locks taken one after another by
// Acquire (the sequential baseline, one backend round trip each) in the
// same run. n comes from LOCKSMITH_BENCH_BATCH (default "1000,10000").
// It reports lock-ms and release-ms for the batch, seq-lock-ms for the
// baseline, and speedup = seq-lock-ms / lock-ms.
//
//	go test -run '^$' -bench LockBatch -benchtime 1x ./host/
func BenchmarkLockBatch(b *testing.B) {
	counts := benchCounts(b, "LOCKSMITH_BENCH_BATCH")
	cfgs, _ := backendConfigs(b)
	for _, name := range []string{"file", "redis"} {
		for _, n := range counts {
			b.Run(fmt.Sprintf("%s/n=%d", name, n), func(b *testing.B) {
				cfg := cfgs[name]()
				cfg.Lease.TTL = 10 * time.Second
				h := newHostFrom(b, cfg)
				benchLockBatch(b, h, name, n)
			})
		}
	}
}

func benchLockBatch(b *testing.B, h *Host, prefix string, n int) {
	ctx := context.Background()
	reqs := make([]BatchRequest, n)
	for i := range reqs {
		r, err := NamedResource(fmt.Sprintf("batch-%s-%06d", prefix, i))
		if err != nil {
			b.Fatal(err)
		}
		reqs[i] = BatchRequest{Resource: r}
	}
	// Warm the host: the first acquire opens its session, and the state
	// of each resource exists before either way of locking is timed.
	seq := func() time.Duration {
		start := time.Now()
		leases := make([]*Lease, 0, n)
		for _, r := range reqs {
			l, err := h.Acquire(ctx, r.Resource)
			if err != nil {
				b.Fatal(err)
			}
			leases = append(leases, l)
		}
		took := time.Since(start)
		for _, l := range leases {
			if err := l.Release(ctx); err != nil {
				b.Fatal(err)
			}
		}
		return took
	}
	seq()
	var lockT, relT, seqT time.Duration
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		start := time.Now()
		batch, err := h.LockBatch(ctx, reqs)
		if err != nil {
			b.Fatal(err)
		}
		lockT += time.Since(start)
		if len(batch.Leases) != n {
			b.Fatalf("batch holds %d leases, want %d", len(batch.Leases), n)
		}
		start = time.Now()
		if err := batch.Release(ctx); err != nil {
			b.Fatal(err)
		}
		relT += time.Since(start)
		b.StopTimer()
		seqT += seq()
		b.StartTimer()
	}
	b.StopTimer()
	ms := func(d time.Duration) float64 { return float64(d.Microseconds()) / 1e3 / float64(b.N) }
	b.ReportMetric(ms(lockT), "lock-ms")
	b.ReportMetric(ms(relT), "release-ms")
	b.ReportMetric(ms(seqT), "seq-lock-ms")
	b.ReportMetric(float64(seqT)/float64(lockT), "speedup")
}
