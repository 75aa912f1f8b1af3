package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"sort"
	"sync"
	"time"

	"github.com/spf13/cobra"

	"github.com/locksmithx/locksmith/config"
	"github.com/locksmithx/locksmith/host"
)

func benchCommand(g *globals) *cobra.Command {
	var (
		n           int
		contenders  int
		contendTime time.Duration
		name        string
	)
	c := &cobra.Command{
		Use:   "bench",
		Short: "Measure locks on the configured backend: round trip, acquire+release, handoff, contention",
		Long: `Measure, on the configured backend and this machine:

  round trip       one health call to the backend plugin (the floor of any operation)
  acquire+release  an uncontended lock and its release
  handoff          from a holder's release to the grant of a waiter in another host
  contention       --contenders goroutines in two hosts taking one lock in turn

and print percentiles, each beside the round trip. It locks the named
resource --name (default bench/<pid>) and leaves nothing behind.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if n < 10 || n > 1_000_000 {
				return usageErr("--n must be 10..1000000")
			}
			if contenders < 2 || contenders > 256 {
				return usageErr("--contenders must be 2..256")
			}
			if contendTime < 100*time.Millisecond || contendTime > 10*time.Minute {
				return usageErr("--contention-time must be 100ms..10m")
			}
			cfg, err := g.loadConfig(nil)
			if err != nil {
				return err
			}
			if name == "" {
				name = fmt.Sprintf("bench/%d", os.Getpid())
			}
			resource, err := host.NamedResource(name)
			if err != nil {
				return usageErr("--name: %v", err)
			}
			return runBench(cmd.OutOrStdout(), cfg, resource, n, contenders, contendTime)
		},
	}
	c.Flags().IntVar(&n, "n", 1000, "samples per measurement")
	c.Flags().IntVar(&contenders, "contenders", 8, "goroutines contending in the contention run")
	c.Flags().DurationVar(&contendTime, "contention-time", 3*time.Second, "length of the contention run")
	c.Flags().StringVar(&name, "name", "", "named lock to measure on (default bench/<pid>)")
	return c
}

// runBench runs every measurement with two hosts (two plugin processes, two
// sessions) on cfg's backend, printing as it goes.
func runBench(out io.Writer, cfg config.Config, resource string, n, contenders int, contendTime time.Duration) error {
	ctx := context.Background()
	a, err := openHost(ctx, cfg, exitFailure)
	if err != nil {
		return err
	}
	defer a.Close()
	b, err := openHost(ctx, cfg, exitFailure)
	if err != nil {
		return err
	}
	defer b.Close()
	fmt.Fprintf(out, "backend %s, %d samples each; resource %s\n\n", cfg.Backend, n, resource)

	rtt, err := sample(n, func() error { return a.Ping(ctx) })
	if err != nil {
		return fmt.Errorf("round trip: %w", err)
	}
	report(out, "round trip", rtt, rtt)

	cycle, err := sample(n, func() error {
		l, err := a.Acquire(ctx, resource)
		if err != nil {
			return err
		}
		return l.Release(ctx)
	})
	if err != nil {
		return fmt.Errorf("acquire+release: %w", err)
	}
	report(out, "acquire+release", cycle, rtt)

	hand, err := handoffs(ctx, a, b, resource, n)
	if err != nil {
		return fmt.Errorf("handoff: %w", err)
	}
	report(out, "handoff", hand, rtt)

	waits, grants, err := contend(ctx, []*host.Host{a, b}, resource, contenders, contendTime)
	if err != nil {
		return fmt.Errorf("contention: %w", err)
	}
	report(out, fmt.Sprintf("contention wait (%d)", contenders), waits, rtt)
	fmt.Fprintf(out, "\ncontention: %d grants in %s, %.0f grants/s\n", grants, humanDuration(contendTime), float64(grants)/contendTime.Seconds())
	return nil
}

// sample times fn n times.
func sample(n int, fn func() error) ([]time.Duration, error) {
	out := make([]time.Duration, 0, n)
	for i := 0; i < n; i++ {
		start := time.Now()
		if err := fn(); err != nil {
			return nil, err
		}
		out = append(out, time.Since(start))
	}
	return out, nil
}

// handoffs times, n times, the release of a lock held in a to the grant of
// a waiter in b.
func handoffs(ctx context.Context, a, b *host.Host, resource string, n int) ([]time.Duration, error) {
	events, stop := b.Subscribe(64)
	defer stop()
	type granted struct {
		at  time.Time
		err error
	}
	out := make([]time.Duration, 0, n)
	for i := 0; i < n; i++ {
		held, err := a.Acquire(ctx, resource)
		if err != nil {
			return nil, err
		}
		got := make(chan granted, 1)
		done := make(chan error, 1)
		go func() {
			l, err := b.Acquire(ctx, resource)
			got <- granted{time.Now(), err}
			if err == nil {
				err = l.Release(ctx)
			}
			done <- err
		}()
		// The release is timed from the moment the waiter is queued.
		for queued := false; !queued; {
			select {
			case ev := <-events:
				queued = ev.Kind == host.EventWaiting && ev.Resource == resource
			case g := <-got:
				_ = held.Release(ctx)
				if g.err == nil {
					g.err = errors.New("the waiter was granted while the lock was held")
				}
				return nil, g.err
			}
		}
		start := time.Now()
		if err := held.Release(ctx); err != nil {
			return nil, err
		}
		g := <-got
		if g.err != nil {
			return nil, g.err
		}
		out = append(out, g.at.Sub(start))
		if err := <-done; err != nil {
			return nil, err
		}
	}
	return out, nil
}

// contend runs k goroutines, spread over the hosts, taking the lock in
// turn for d; it returns their waits and the number of grants.
func contend(ctx context.Context, hosts []*host.Host, resource string, k int, d time.Duration) ([]time.Duration, int, error) {
	var (
		mu    sync.Mutex
		waits []time.Duration
		first error
		wg    sync.WaitGroup
	)
	end := time.Now().Add(d)
	for i := 0; i < k; i++ {
		h := hosts[i%len(hosts)]
		wg.Add(1)
		go func() {
			defer wg.Done()
			for time.Now().Before(end) {
				start := time.Now()
				l, err := h.Acquire(ctx, resource)
				if err == nil {
					err = l.Release(ctx)
				}
				mu.Lock()
				if err != nil && first == nil {
					first = err
				}
				waits = append(waits, time.Since(start))
				mu.Unlock()
				if err != nil {
					return
				}
			}
		}()
	}
	wg.Wait()
	return waits, len(waits), first
}

// report prints one measurement's percentiles and its p50 against the
// round trip's.
func report(out io.Writer, what string, ds, rtt []time.Duration) {
	p := percentiles(ds)
	base := percentiles(rtt)
	ratio := ""
	if base[0] > 0 && what != "round trip" {
		ratio = fmt.Sprintf("  = %.1f round trips", float64(p[0])/float64(base[0]))
	}
	fmt.Fprintf(out, "%-22s p50 %-8s p90 %-8s p99 %-8s max %-8s%s\n", what,
		humanDuration(p[0]), humanDuration(p[1]), humanDuration(p[2]), humanDuration(p[3]), ratio)
}

// percentiles are p50, p90, p99 and max of ds.
func percentiles(ds []time.Duration) [4]time.Duration {
	if len(ds) == 0 {
		return [4]time.Duration{}
	}
	s := append([]time.Duration(nil), ds...)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	at := func(q float64) time.Duration { return s[min(len(s)-1, int(q*float64(len(s))))] }
	return [4]time.Duration{at(0.5), at(0.9), at(0.99), s[len(s)-1]}
}
