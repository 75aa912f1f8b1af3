package backendtest

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"github.com/locksmithx/locksmith/sdk"
)

// errPredecessorsGone ends a waiter's Watch once every entry ahead of its
// own is deleted.
var errPredecessorsGone = errors.New("backendtest: predecessors gone")

// mutexRounds is how often each client takes the lock.
const mutexRounds = 3

// checkConcurrentMutualExclusion runs the host's lock recipe directly on
// the store, with many clients at once, each on a session of its own: put
// an entry WithRange; the entry with the lowest CreateRev owns the lock;
// the others wait, by Watch, for every entry ahead of theirs to go; the
// owner increments a shared counter non-atomically, then deletes its entry.
// No increment may be lost, no two clients may be inside at once, and the
// lock must pass in CreateRev order.
func checkConcurrentMutualExclusion(t tb, e *env) {
	ctx := e.ctx(t, 0)
	r := e.resource("lock")
	sessions := make([]sdk.Session, e.cfg.clients)
	for i := range sessions {
		sessions[i] = e.open(t, ctx, e.b, longTTL)
	}
	var (
		counter atomic.Int64
		inside  atomic.Int64
		overlap atomic.Int64
		mu      sync.Mutex
		owners  []int64
		errs    []error
		wg      sync.WaitGroup
	)
	critical := func(createRev int64) {
		if inside.Add(1) != 1 {
			overlap.Add(1)
		}
		v := counter.Load()
		runtime.Gosched()
		time.Sleep(100 * time.Microsecond)
		counter.Store(v + 1)
		mu.Lock()
		owners = append(owners, createRev)
		mu.Unlock()
		inside.Add(-1)
	}
	start := make(chan struct{})
	for c := range e.cfg.clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			for i := range mutexRounds {
				key := fmt.Sprintf("%s/%02d-%d", sessions[c].ID, c, i)
				if err := lockOnce(ctx, e.b, r, key, sessions[c].ID, critical); err != nil {
					mu.Lock()
					errs = append(errs, fmt.Errorf("client %d round %d: %w", c, i, err))
					mu.Unlock()
					return
				}
			}
		}()
	}
	close(start)
	wg.Wait()
	for _, err := range errs {
		t.Errorf("%v", err)
	}
	want := int64(e.cfg.clients * mutexRounds)
	if got := counter.Load(); got != want && len(errs) == 0 {
		t.Errorf("shared counter is %d after %d locked increments: the lock let clients in together", got, want)
	}
	if n := overlap.Load(); n > 0 {
		t.Errorf("%d times a client entered while another held the lock", n)
	}
	for i := 1; i < len(owners); i++ {
		if owners[i] <= owners[i-1] {
			t.Errorf("lock passed out of creation order: owner %d had CreateRev %d, owner %d had %d", i, owners[i-1], i+1, owners[i])
			break
		}
	}
	if rg := e.rangeOf(t, ctx, e.b, r); len(rg.Entries) != 0 {
		t.Errorf("entries left after every client unlocked: %s", keysOf(rg.Entries))
	}
}

// lockOnce takes the lock on resource as entry key, runs critical, and
// releases the lock.
func lockOnce(ctx context.Context, b sdk.Backend, resource, key, session string, critical func(int64)) error {
	p, err := b.Put(ctx, sdk.PutRequest{Resource: resource, Key: key, Session: session, IfAbsent: true, WithRange: true})
	if err != nil {
		return fmt.Errorf("put %s: %w", key, err)
	}
	ahead := map[string]bool{}
	own := false
	for _, en := range p.Entries {
		switch {
		case en.Key == key:
			own = true
		case en.CreateRev < p.CreateRev:
			ahead[en.Key] = true
		}
	}
	if !own {
		return fmt.Errorf("put %s with range: own entry missing from %s", key, keysOf(p.Entries))
	}
	if len(ahead) > 0 {
		err := b.Watch(ctx, resource, p.Rev+1, func(ev sdk.Event) error {
			if ev.Type == sdk.EventDelete {
				delete(ahead, ev.Entry.Key)
			}
			if len(ahead) == 0 {
				return errPredecessorsGone
			}
			return nil
		})
		if !errors.Is(err, errPredecessorsGone) {
			return fmt.Errorf("wait for %d entries ahead of %s: %w", len(ahead), key, err)
		}
	}
	critical(p.CreateRev)
	if _, err := b.Delete(ctx, sdk.DeleteRequest{Resource: resource, Key: key, ExpectRev: p.ModRev}); err != nil {
		return fmt.Errorf("delete %s: %w", key, err)
	}
	return nil
}
