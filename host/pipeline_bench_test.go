package host

import (
	"context"
	"testing"
	"time"

	"github.com/locksmithx/locksmith/config"
	"github.com/locksmithx/locksmith/internal/redistest"
)

// What several backends cost: an uncontended acquire and release on the
// file backend alone, on Redis alone, and in the migration mode (both),
// in one host running both; then a config swap that changes the default.
//
//	go test -run '^$' -bench 'Pipeline|Swap' -benchtime 300x ./host/
func BenchmarkPipelineCycle(b *testing.B) {
	srv := redistest.Start(b)
	dir := b.TempDir()
	for _, tc := range []struct{ name, def, from string }{
		{"file", "file", ""}, {"redis", "redis", ""}, {"migrating", "redis", "file"},
	} {
		b.Run(tc.name, func(b *testing.B) {
			cfg := fileAndRedis(dir, srv.Addr, "bench", tc.def)
			cfg.MigrateFrom = tc.from
			h := newHostFrom(b, cfg)
			ctx := context.Background()
			lat := make(latencies, 0, b.N)
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				t := time.Now()
				l, err := h.Named(ctx, "cycle")
				if err != nil {
					b.Fatal(err)
				}
				if err := l.Release(ctx); err != nil {
					b.Fatal(err)
				}
				lat = append(lat, time.Since(t))
			}
			lat.report(b)
		})
	}
}

// BenchmarkSwap is one UpdateConfig that changes the default backend
// between two that keep running: no plugin starts, so it measures the
// build, health check and swap.
func BenchmarkSwap(b *testing.B) {
	srv := redistest.Start(b)
	dir := b.TempDir()
	cfgs := [2]config.Config{fileAndRedis(dir, srv.Addr, "swap", "file"), fileAndRedis(dir, srv.Addr, "swap", "redis")}
	h := newHostFrom(b, cfgs[0])
	ctx := context.Background()
	lat := make(latencies, 0, b.N)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		t := time.Now()
		if err := h.UpdateConfig(ctx, cfgs[(i+1)%2]); err != nil {
			b.Fatal(err)
		}
		lat = append(lat, time.Since(t))
	}
	lat.report(b)
}
