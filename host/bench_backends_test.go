package host

import (
	"context"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-redsync/redsync/v4"
	rsgoredis "github.com/go-redsync/redsync/v4/redis/goredis/v9"
	goredis "github.com/redis/go-redis/v9"

	"github.com/locksmithx/locksmith/config"
	"github.com/locksmithx/locksmith/internal/redistest"
)

// Benchmarks of the host on each backend through its plugin process, with
// the raw Redis recipes measured in the same run:
//
//	go test -run '^$' -bench 'Backend|Redis' -benchtime 1000x ./host/

// backendConfigs starts what each backend needs and returns a config
// factory per backend: each call is a new host's config on the same store.
func backendConfigs(b *testing.B) (map[string]func() config.Config, *redistest.Server) {
	dir := b.TempDir()
	out := map[string]func() config.Config{"file": func() config.Config { return testConfig(dir) }}
	redistest.Require(b)
	srv := redistest.Start(b)
	out["redis"] = func() config.Config { return redisConfig(srv.Addr, "bench:") }
	return out, srv
}

// BenchmarkBackendCycle is an uncontended acquire and release through the
// plugin on each backend.
func BenchmarkBackendCycle(b *testing.B) {
	cfgs, _ := backendConfigs(b)
	for _, name := range []string{"file", "redis"} {
		b.Run(name, func(b *testing.B) {
			h := newHostFrom(b, cfgs[name]())
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

// BenchmarkBackendHandoff is release -> the waiter's acquire returning,
// holder and waiter in two hosts, on each backend.
func BenchmarkBackendHandoff(b *testing.B) {
	cfgs, _ := backendConfigs(b)
	for _, name := range []string{"file", "redis"} {
		b.Run(name, func(b *testing.B) {
			a, w := newHostFrom(b, cfgs[name]()), newHostFrom(b, cfgs[name]())
			benchHandoffBetween(b, a, w)
		})
	}
	// Holder and waiter in one host: the release hands the waiter the
	// queue its delete returned (local handoff), or, watch-only, the
	// waiter learns of it from the store's watch.
	for _, watchOnly := range []bool{false, true} {
		mode := "file/one-host"
		if watchOnly {
			mode += "-watch-only"
		}
		b.Run(mode, func(b *testing.B) {
			h := newHostFrom(b, cfgs["file"]())
			h.watchOnly = watchOnly
			benchHandoffBetween(b, h, h)
		})
	}
}

func benchHandoffBetween(b *testing.B, a, w *Host) {
	ctx := context.Background()
	lat := make(latencies, 0, b.N)
	// The steps of each handoff, from the release's start: the release
	// call's return (the holder's host and its plugin's Delete), the
	// delete's watch event reaching the waiter's host (the waiter's
	// plugin waking, reading the state and sending the event), and the
	// grant's return (the waiter's host).
	var releaseLat, eventLat latencies
	var eventAt atomic.Int64
	w.onWatchEvent = func() { eventAt.CompareAndSwap(0, time.Now().UnixNano()) }
	defer func() { w.onWatchEvent = nil }()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		held, err := a.Named(ctx, "handoff")
		if err != nil {
			b.Fatal(err)
		}
		got := make(chan *Lease, 1)
		var at atomic.Int64
		go func() {
			l, err := w.Named(ctx, "handoff")
			at.Store(time.Now().UnixNano())
			if err != nil {
				b.Error(err)
			}
			got <- l
		}()
		for {
			st, _ := a.Status(ctx, "handoff")
			if len(st.Waiters) == 1 {
				break
			}
			time.Sleep(200 * time.Microsecond)
		}
		time.Sleep(2 * time.Millisecond)
		eventAt.Store(0)
		released := time.Now()
		if err := held.Release(ctx); err != nil {
			b.Fatal(err)
		}
		releaseLat = append(releaseLat, time.Since(released))
		next := <-got
		lat = append(lat, time.Unix(0, at.Load()).Sub(released))
		if e := eventAt.Load(); e != 0 {
			eventLat = append(eventLat, time.Unix(0, e).Sub(released))
		}
		if next == nil {
			b.FailNow()
		}
		_ = next.Release(ctx)
	}
	lat.report(b)
	b.ReportMetric(releaseLat.p50(), "release-p50-µs")
	b.ReportMetric(eventLat.p50(), "event-p50-µs")
}

// BenchmarkBackendContention8 runs 8 contenders, each its own host (and
// plugin process), locking and releasing one resource for a fixed time. It
// reports throughput and fairness: the fewest grants any contender got
// over the most.
func BenchmarkBackendContention8(b *testing.B) {
	cfgs, _ := backendConfigs(b)
	for _, name := range []string{"file", "redis"} {
		b.Run(name, func(b *testing.B) {
			hosts := make([]*Host, 8)
			for i := range hosts {
				hosts[i] = newHostFrom(b, cfgs[name]())
			}
			benchContention(b, hosts)
		})
	}
}

// BenchmarkOneHostContention8 runs 8 goroutines of one host locking and
// releasing one resource for a fixed time: throughput and fairness, with
// each release handing the lock to the host's next waiter from the queue
// its delete returned (local handoff), and with every waiter told by the
// store's watch (watch-only), in the same run.
func BenchmarkOneHostContention8(b *testing.B) {
	cfgs, _ := backendConfigs(b)
	for _, name := range []string{"file", "redis"} {
		for _, watchOnly := range []bool{false, true} {
			mode := "local-handoff"
			if watchOnly {
				mode = "watch-only"
			}
			b.Run(name+"/"+mode, func(b *testing.B) {
				h := newHostFrom(b, cfgs[name]())
				h.watchOnly = watchOnly
				total := benchContention(b, []*Host{h, h, h, h, h, h, h, h})
				b.ReportMetric(float64(h.Metrics().LocalHandoffs)/float64(max(total, 1)), "local-handoffs/grant")
			})
		}
	}
}

// benchContention runs a contender per entry of hosts (a host may appear
// more than once: goroutines of one host) for b.N milliseconds, reports
// grants per second and fairness, and returns the grants.
func benchContention(b *testing.B, hosts []*Host) int {
	window := time.Duration(b.N) * time.Millisecond
	ctx, cancel := context.WithTimeout(context.Background(), window)
	defer cancel()
	counts := make([]int, len(hosts))
	var wg sync.WaitGroup
	b.ResetTimer()
	for i, h := range hosts {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for ctx.Err() == nil {
				l, err := h.Named(ctx, "contended")
				if err != nil {
					return
				}
				counts[i]++
				_ = l.Release(context.Background())
			}
		}()
	}
	wg.Wait()
	b.StopTimer()
	total, lo, hi := 0, counts[0], counts[0]
	for _, c := range counts {
		total += c
		lo, hi = min(lo, c), max(hi, c)
	}
	b.ReportMetric(float64(total)/window.Seconds(), "grants/s")
	b.ReportMetric(float64(lo)/float64(max(hi, 1)), "fairness-min/max")
	return total
}

// BenchmarkRedisBaselines are the raw recipes on the same kind of server:
// go-redis SET NX PX with a Lua compare-and-delete, and redsync's mutex;
// then redsync's handoff with its default retry (a waiter polls).
func BenchmarkRedisBaselines(b *testing.B) {
	_, srv := backendConfigs(b)
	ctx := context.Background()
	rdb := goredis.NewClient(&goredis.Options{Addr: srv.Addr})
	defer rdb.Close()
	cad := goredis.NewScript(`if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end return 0`)
	b.Run("raw-setnx-cycle", func(b *testing.B) {
		lat := make(latencies, 0, b.N)
		for i := 0; i < b.N; i++ {
			t := time.Now()
			tok := strconv.Itoa(i)
			if ok, err := rdb.SetNX(ctx, "raw", tok, 30*time.Second).Result(); err != nil || !ok {
				b.Fatal(ok, err)
			}
			if err := cad.Run(ctx, rdb, []string{"raw"}, tok).Err(); err != nil {
				b.Fatal(err)
			}
			lat = append(lat, time.Since(t))
		}
		lat.report(b)
	})
	rs := redsync.New(rsgoredis.NewPool(rdb))
	b.Run("redsync-cycle", func(b *testing.B) {
		lat := make(latencies, 0, b.N)
		for i := 0; i < b.N; i++ {
			m := rs.NewMutex("rs", redsync.WithExpiry(30*time.Second), redsync.WithTries(1))
			t := time.Now()
			if err := m.LockContext(ctx); err != nil {
				b.Fatal(err)
			}
			if _, err := m.UnlockContext(ctx); err != nil {
				b.Fatal(err)
			}
			lat = append(lat, time.Since(t))
		}
		lat.report(b)
	})
	b.Run("redsync-handoff", func(b *testing.B) {
		// Each handoff waits out redsync's retry delay (50-250 ms): at most
		// 30 are measured.
		iters := min(b.N, 30)
		lat := make(latencies, 0, iters)
		for i := 0; i < iters; i++ {
			holder := rs.NewMutex("rs-h", redsync.WithExpiry(30*time.Second))
			if err := holder.LockContext(ctx); err != nil {
				b.Fatal(err)
			}
			got := make(chan time.Time, 1)
			go func() {
				w := rs.NewMutex("rs-h", redsync.WithExpiry(30*time.Second), redsync.WithTries(1000))
				if err := w.LockContext(ctx); err != nil {
					b.Error(err)
				}
				got <- time.Now()
				_, _ = w.UnlockContext(ctx)
			}()
			time.Sleep(5 * time.Millisecond)
			released := time.Now()
			if _, err := holder.UnlockContext(ctx); err != nil {
				b.Fatal(err)
			}
			lat = append(lat, (<-got).Sub(released))
		}
		lat.report(b)
	})
}
