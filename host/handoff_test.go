package host

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/locksmithx/locksmith/internal/redistest"
)

// TestLocalHandoffKeepsExclusionAndOrder: two hosts (each with its own
// plugin process) on one store, file or Redis, four goroutines each, take
// one lock
// in turns. A release hands the queue left after it to its host's own
// waiters, which may then be granted before the store's watch tells them;
// the grants must still never overlap, and fencing tokens must rise in
// the order the lock is held (the other host's waiters, queued between,
// make a handed queue that left them out grant out of turn). Some wait
// must have ended by a handed queue, or the test tested nothing.
func TestLocalHandoffKeepsExclusionAndOrder(t *testing.T) {
	t.Run("file", func(t *testing.T) {
		dir := t.TempDir()
		checkLocalHandoff(t, newTestHost(t, dir), newTestHost(t, dir))
	})
	t.Run("redis", func(t *testing.T) {
		redistest.Require(t)
		srv := redistest.Start(t)
		checkLocalHandoff(t, newHostFrom(t, redisConfig(srv.Addr, "handoff:")), newHostFrom(t, redisConfig(srv.Addr, "handoff:")))
	})
}

func checkLocalHandoff(t *testing.T, hosts ...*Host) {
	const perHost, rounds = 4, 40
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()

	var (
		holding   atomic.Int32
		mu        sync.Mutex
		lastToken int64
		grants    int
	)
	errs := make(chan error, len(hosts)*perHost)
	var wg sync.WaitGroup
	for _, h := range hosts {
		for range perHost {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for range rounds {
					l, err := h.Named(ctx, "handoff")
					if err != nil {
						errs <- err
						return
					}
					if n := holding.Add(1); n != 1 {
						t.Errorf("%d holders at once", n)
					}
					mu.Lock()
					if tok := l.Token(); tok <= lastToken {
						t.Errorf("token %d granted after token %d", tok, lastToken)
					} else {
						lastToken = tok
					}
					grants++
					mu.Unlock()
					time.Sleep(100 * time.Microsecond)
					holding.Add(-1)
					if err := l.Release(context.Background()); err != nil {
						errs <- err
						return
					}
				}
			}()
		}
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	if want := len(hosts) * perHost * rounds; grants != want {
		t.Fatalf("%d grants, want %d", grants, want)
	}
	handed := uint64(0)
	for i, h := range hosts {
		m := h.Metrics()
		t.Logf("host %d: %d grants, %d from a handed queue", i, m.Acquisitions, m.LocalHandoffs)
		handed += m.LocalHandoffs
	}
	if handed == 0 {
		t.Errorf("no wait ended by a queue its host's release handed over, in %d grants", grants)
	}
}

// TestHandGoesToTheWaitersAReleaseCanWake: a release hands the queue
// only to the waiters whose wake-on keys hold the released entry (and to
// a waiter that has none yet), as a store's watch with wake-on keys would
// tell them; the others are not given a copy of the queue to check.
func TestHandGoesToTheWaitersAReleaseCanWake(t *testing.T) {
	var h handoffs
	next := h.join("r")   // waits behind "a"
	behind := h.join("r") // waits behind "b"
	fresh := h.join("r")  // no keys yet
	other := h.join("s")
	h.wakeOn(next, []string{"b", "a"})
	h.wakeOn(behind, []string{"c", "b"})
	q := newQueue(nil)
	h.hand("r", 7, q, "a")
	rev := int64(7)
	got := func(f *inbox) bool {
		select {
		case snap := <-f.ch:
			if snap.rev != rev {
				t.Fatalf("handed revision %d, want %d", snap.rev, rev)
			}
			return true
		default:
			return false
		}
	}
	if !got(next) || got(behind) || !got(fresh) || got(other) {
		t.Fatal("the release of a should reach the waiter behind a and the one without keys only")
	}
	rev = 8
	h.hand("r", rev, q, "b")
	if !got(next) || !got(behind) {
		t.Fatal("the release of b should reach both waiters whose keys hold b")
	}
}
