package backendtest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"sort"
	"sync"
	"time"

	"github.com/locksmithx/locksmith/sdk"
)

// checkWatchResume: a watch cut after some events and resumed from the
// revision after the last one it delivered gets every later change exactly
// once: no gap, no repeat, the changes made while no watch ran included.
func checkWatchResume(t tb, e *env) {
	ctx := e.ctx(t, 0)
	s := e.open(t, ctx, e.b, longTTL)
	r := e.resource("r")
	var revs []int64
	put := func(key string) {
		revs = append(revs, e.put(t, ctx, sdk.PutRequest{Resource: r, Key: key, Value: []byte(key), Session: s.ID}).ModRev)
	}
	put("a")
	put("b")
	first := e.watch(t, r, revs[0])
	got := []sdk.Event{first.next(t), first.next(t)}
	first.cancel()
	<-first.done
	put("c") // while no watch runs
	put("d")
	resumed := e.watch(t, r, got[1].Rev+1)
	put("e")
	for _, want := range []struct {
		key string
		rev int64
	}{{"c", revs[2]}, {"d", revs[3]}, {"e", revs[4]}} {
		ev := resumed.nextOr(t, func(sdk.RangeResult) string {
			return fmt.Sprintf("a watch resumed from revision %d must replay every change from there: %s at %d was missed", got[1].Rev+1, want.key, want.rev)
		})
		if ev.Entry.Key != want.key || ev.Rev != want.rev {
			t.Fatalf("Watch resumed from %d after a cut: got %s %s at revision %d, want put %s at %d (no gap, no repeat)", got[1].Rev+1, ev.Type, ev.Entry.Key, ev.Rev, want.key, want.rev)
		}
	}
}

// checkCASStorm: in each round many clients read one entry, then all race
// a compare-and-swap Update expecting the revision they read. Exactly one
// wins each round, and the successes form one chain: each expected the
// ModRev the previous success produced, so no update was applied over a
// revision it did not see.
func checkCASStorm(t tb, e *env) {
	ctx := e.ctx(t, 0)
	s := e.open(t, ctx, e.b, longTTL)
	r := e.resource("r")
	p := e.put(t, ctx, sdk.PutRequest{Resource: r, Key: "k", Value: []byte("0"), Session: s.ID, IfAbsent: true})
	type success struct{ expected, got int64 }
	var (
		mu   sync.Mutex
		wins []success
		errs []error
	)
	fail := func(err error) {
		mu.Lock()
		errs = append(errs, err)
		mu.Unlock()
	}
	const rounds = 8
	read := make([]int64, e.cfg.clients)
	for round := range rounds {
		var wg sync.WaitGroup
		for c := range e.cfg.clients {
			wg.Add(1)
			go func() {
				defer wg.Done()
				rg, err := e.b.Range(ctx, r)
				if err != nil {
					fail(fmt.Errorf("client %d: Range: %w", c, err))
					return
				}
				en, ok := find(rg.Entries, "k")
				if !ok {
					fail(fmt.Errorf("client %d: entry k gone during the storm", c))
					return
				}
				read[c] = en.ModRev
			}()
		}
		wg.Wait()
		won := 0
		for c := range e.cfg.clients {
			wg.Add(1)
			go func() {
				defer wg.Done()
				u, err := e.b.Update(ctx, sdk.UpdateRequest{Resource: r, Key: "k", Value: fmt.Appendf(nil, "%d-%d", c, round), ExpectRev: read[c]})
				mu.Lock()
				defer mu.Unlock()
				switch {
				case err == nil:
					wins = append(wins, success{expected: read[c], got: u.ModRev})
					won++
				case !errors.Is(err, sdk.ErrRevMismatch):
					errs = append(errs, fmt.Errorf("client %d: Update expecting %d: %w, want success or ErrRevMismatch", c, read[c], err))
				}
			}()
		}
		wg.Wait()
		if len(errs) > 0 {
			break
		}
		if won != 1 {
			t.Errorf("compare-and-swap broken: round %d: %d of %d Updates expecting the same revision succeeded, want exactly 1", round, won, e.cfg.clients)
		}
	}
	for _, err := range errs {
		t.Errorf("%v", err)
	}
	if len(wins) == 0 {
		t.Fatalf("no Update of the storm succeeded")
	}
	sort.Slice(wins, func(i, j int) bool { return wins[i].got < wins[j].got })
	prev := p.ModRev
	for _, w := range wins {
		if w.expected != prev {
			t.Fatalf("compare-and-swap broken: an Update expecting revision %d succeeded (to %d), but the entry was at %d: it must fail with ErrRevMismatch", w.expected, w.got, prev)
		}
		prev = w.got
	}
	if en := wantEntry(t, e, r, "k", "after the storm"); en.ModRev != prev {
		t.Errorf("after the storm the entry is at ModRev %d, want the last success's %d", en.ModRev, prev)
	}
}

// checkExpiresMidOperation: a session whose owner keeps working on its
// entry (Updates) but stops keeping it alive still expires: writes do not
// renew a session, only KeepAlive does. Once it expired, Updates of its
// entry fail with ErrNotFound and the entry never comes back.
func checkExpiresMidOperation(t tb, e *env) {
	ctx := e.ctx(t, e.cfg.ttl+e.cfg.slack)
	r := e.resource("r")
	opened := time.Now()
	s := e.open(t, ctx, e.b, e.cfg.ttl)
	p := e.put(t, ctx, sdk.PutRequest{Resource: r, Key: "k", Value: []byte("0"), Session: s.ID, IfAbsent: true})
	rev := p.ModRev
	deadline := opened.Add(s.TTL + e.cfg.slack)
	tick := time.NewTicker(max(s.TTL/10, time.Millisecond))
	defer tick.Stop()
	for n := 1; ; n++ {
		u, err := e.b.Update(ctx, sdk.UpdateRequest{Resource: r, Key: "k", Value: fmt.Appendf(nil, "%d", n), ExpectRev: rev})
		if errors.Is(err, sdk.ErrNotFound) {
			break
		}
		if err != nil {
			t.Fatalf("Update %d of the session's entry: %v, want success or, once the session expired, ErrNotFound", n, err)
		}
		rev = u.ModRev
		if time.Now().After(deadline) {
			t.Fatalf("session with TTL %v, updated but never kept alive, still owns its entry %v after it opened: writes must not renew a session", s.TTL, time.Since(opened).Round(time.Millisecond))
		}
		select {
		case <-ctx.Done():
			t.Fatalf("updating the session's entry: %v", ctx.Err())
		case <-tick.C:
		}
	}
	if gone := time.Since(opened); gone < s.TTL-s.TTL/20 {
		t.Errorf("session with TTL %v expired %v after it opened, before its TTL", s.TTL, gone.Round(time.Millisecond))
	}
	_, err := e.b.Put(ctx, sdk.PutRequest{Resource: r, Key: "k", Session: s.ID})
	wantErr(t, "Put with the session that expired mid-operation", err, sdk.ErrSessionExpired)
	if rg := e.rangeOf(t, ctx, e.b, r); len(rg.Entries) != 0 {
		t.Errorf("Range after the session expired mid-operation: got %s, want nothing", keysOf(rg.Entries))
	}
}

// checkRestart: a backend restarted between calls (WithRestart) keeps what
// it stored: the entries of a live session, their revisions, and a
// revision counter that goes on increasing. Only for stores that announce
// sdk.CapPersistent.
func checkRestart(t tb, e *env) {
	if e.restart == nil {
		t.Skipf("needs backendtest.WithRestart to restart a backend")
	}
	ctx := e.ctx(t, e.cfg.timeout)
	info, err := e.b.Info(ctx)
	if err != nil {
		t.Fatalf("Info: %v", err)
	}
	if !info.Has(sdk.CapPersistent) {
		t.Skipf("the backend does not announce %q", sdk.CapPersistent)
	}
	s := e.open(t, ctx, e.b, longTTL)
	r := e.resource("r")
	p := e.put(t, ctx, sdk.PutRequest{Resource: r, Key: "k", Value: []byte("v"), Session: s.ID, IfAbsent: true})
	before := e.rangeOf(t, ctx, e.b, r)
	b := e.restart()
	after, err := b.Range(ctx, r)
	if err != nil {
		t.Fatalf("Range after a restart: %v", err)
	}
	en, ok := find(after.Entries, "k")
	if !ok || en.CreateRev != p.CreateRev || en.ModRev != p.ModRev || !bytes.Equal(en.Value, []byte("v")) {
		t.Fatalf("after a restart: %s (rev %d), want k at CreateRev %d ModRev %d as before (%s): a persistent store keeps its entries", keysOf(after.Entries), after.Rev, p.CreateRev, p.ModRev, keysOf(before.Entries))
	}
	if after.Rev < before.Rev {
		t.Errorf("resource revision went back from %d to %d across a restart", before.Rev, after.Rev)
	}
	if _, err := b.KeepAlive(ctx, s.ID); err != nil {
		t.Errorf("KeepAlive of a live session after a restart: %v", err)
	}
	q, err := b.Put(ctx, sdk.PutRequest{Resource: r, Key: "k2", Session: s.ID, IfAbsent: true})
	if err != nil {
		t.Fatalf("Put after a restart: %v", err)
	}
	if q.CreateRev <= after.Rev {
		t.Errorf("Put after a restart got revision %d, not above the %d before it: revisions must never repeat", q.CreateRev, after.Rev)
	}
}

// checkSharedInstances: several instances of the store on one backing
// store (WithSharedStore: processes of one plugin on one file, one server)
// see each other's writes, in Range and in Watch, and exclude each other.
// A session is used through the instance that opened it (or adopted it),
// as the host does.
func checkSharedInstances(t tb, e *env) {
	if !e.cfg.shared {
		t.Skipf("needs backendtest.WithSharedStore: the factory's backends must share one store")
	}
	ctx := e.ctx(t, 0)
	other := e.another()
	r := e.resource("r")
	s := e.open(t, ctx, e.b, longTTL)
	p := e.put(t, ctx, sdk.PutRequest{Resource: r, Key: "a", Value: []byte("1"), Session: s.ID, IfAbsent: true})
	rg, err := other.Range(ctx, r)
	if err != nil {
		t.Fatalf("Range on a second instance: %v", err)
	}
	if _, ok := find(rg.Entries, "a"); !ok {
		t.Fatalf("a second instance on the same store does not see the first's entry: %s", keysOf(rg.Entries))
	}
	w := (&env{b: other, cfg: e.cfg}).watch(t, r, p.Rev+1)
	u := e.update(t, ctx, sdk.UpdateRequest{Resource: r, Key: "a", Value: []byte("2"), ExpectRev: p.ModRev})
	ev := w.nextOr(t, func(sdk.RangeResult) string {
		return "a Watch on one instance must see the changes made through another on the same store"
	})
	if ev.Entry.Key != "a" || ev.Rev != u.ModRev {
		t.Fatalf("Watch on the second instance: got %s %s at %d, want the first's update of a at %d", ev.Type, ev.Entry.Key, ev.Rev, u.ModRev)
	}
	os, err := other.OpenSession(ctx, longTTL, nil)
	if err != nil {
		t.Fatalf("OpenSession on the second instance: %v", err)
	}
	t.Cleanup(func() { _ = other.Revoke(context.Background(), os.ID) })
	_, err = other.Put(ctx, sdk.PutRequest{Resource: r, Key: "a", Session: os.ID, IfAbsent: true})
	wantErr(t, "Put IfAbsent on the second instance of a key the first wrote", err, sdk.ErrExists)
}
