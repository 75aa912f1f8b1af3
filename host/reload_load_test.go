package host

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/locksmithx/locksmith/internal/redistest"
)

// The default backend is switched file → Redis → file … while workers hold
// and queue for one lock: a critical-section log, checked with each
// backend's fencing tokens, shows no overlap; no lease is lost; every
// request is granted; Plugins shows each switch.
func TestHotSwapUnderLoad(t *testing.T) {
	srv := redistest.Start(t)
	dir := t.TempDir()
	onFile := fileAndRedis(dir, srv.Addr, "hot", "file")
	onFile.Backends = nil
	onRedis := fileAndRedis(dir, srv.Addr, "hot", "redis")
	onRedis.Backends = nil
	h := newHostFrom(t, onFile)

	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	var (
		mu      sync.Mutex
		inside  int
		last    = map[string]int64{} // the highest token seen, per backend
		grants  = map[string]int{}
		total   atomic.Int64
		stop    atomic.Bool
		wg      sync.WaitGroup
		errs    = make(chan error, 100)
		workers = 6
	)
	fail := func(err error) {
		select {
		case errs <- err:
		default:
		}
	}
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			for i := 0; !stop.Load() || i < 5; i++ {
				l, err := h.Named(ctx, "counter")
				if err != nil {
					fail(fmt.Errorf("worker %d: request %d not served: %w", w, i, err))
					return
				}
				mu.Lock()
				inside++
				be, tok := l.Backend(), l.Token()
				if inside != 1 {
					fail(fmt.Errorf("worker %d: %d holders at once (token %d on %s)", w, inside, tok, be))
				}
				if tok <= last[be] {
					fail(fmt.Errorf("worker %d: token %d on %s after %d: a stale grant", w, tok, be, last[be]))
				}
				last[be] = tok
				grants[be]++
				mu.Unlock()
				// Worker 0 holds long, so that leases straddle the swaps.
				hold := time.Millisecond
				if w == 0 {
					hold = 150 * time.Millisecond
				}
				time.Sleep(hold)
				mu.Lock()
				inside--
				mu.Unlock()
				if err := l.Lost(); err != nil {
					fail(fmt.Errorf("worker %d: lease lost: %w", w, err))
				}
				if err := l.Release(ctx); err != nil {
					fail(fmt.Errorf("worker %d: release: %w", w, err))
				}
				total.Add(1)
			}
		}(w)
	}

	// A lease taken on file before the first switch stays there, held,
	// through every switch.
	pinned, err := h.Named(ctx, "pinned")
	if err != nil {
		t.Fatal(err)
	}
	next := onRedis
	for swap := 0; swap < 6; swap++ {
		// Let some grants through on the current default first.
		want := total.Load() + 10
		deadline := time.Now().Add(60 * time.Second)
		for total.Load() < want && time.Now().Before(deadline) && len(errs) == 0 {
			time.Sleep(10 * time.Millisecond)
		}
		if err := h.UpdateConfig(ctx, next); err != nil {
			t.Fatalf("swap %d to %s: %v", swap, next.Backend, err)
		}
		for _, p := range h.Plugins(ctx) {
			if p.Name == next.Backend && p.Role != RoleDefault {
				t.Fatalf("swap %d: plugins shows %s as %q, want default", swap, p.Name, p.Role)
			}
		}
		if next.Backend == "redis" {
			next = onFile
		} else {
			next = onRedis
		}
	}
	stop.Store(true)
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if pinned.Backend() != "file" || pinned.Lost() != nil {
		t.Fatalf("pinned lease: on %s, lost %v", pinned.Backend(), pinned.Lost())
	}
	if err := pinned.Release(ctx); err != nil {
		t.Fatalf("release the pinned lease: %v", err)
	}
	mu.Lock()
	defer mu.Unlock()
	if grants["file"] == 0 || grants["redis"] == 0 {
		t.Fatalf("grants per backend %v: want both", grants)
	}
	t.Logf("grants per backend %v over 6 swaps", grants)
}
