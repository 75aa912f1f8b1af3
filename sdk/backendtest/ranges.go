package backendtest

import (
	"fmt"
	"slices"
	"strings"
	"sync"

	"github.com/locksmithx/locksmith/sdk"
)

// checkRangeCreationOrder: Range lists entries by CreateRev, not by key or
// by last change, also after an in-place Update or a replacing put of an
// early entry, and after a delete in the middle.
func checkRangeCreationOrder(t tb, e *env) {
	ctx := e.ctx(t, 0)
	s := e.open(t, ctx, e.b, longTTL)
	r := e.resource("r")
	if rg := e.rangeOf(t, ctx, e.b, e.resource("unused")); len(rg.Entries) != 0 {
		t.Errorf("Range of an unused resource: got %s, want nothing", keysOf(rg.Entries))
	}
	order := []string{"e", "c", "a", "d", "b"}
	revs := map[string]int64{}
	for _, k := range order {
		revs[k] = e.put(t, ctx, sdk.PutRequest{Resource: r, Key: k, Session: s.ID, IfAbsent: true}).ModRev
	}
	want := func(when string, keys ...string) {
		t.Helper()
		rg := e.rangeOf(t, ctx, e.b, r)
		got := make([]string, len(rg.Entries))
		for i, en := range rg.Entries {
			got[i] = en.Key
		}
		if fmt.Sprint(got) != fmt.Sprint(keys) {
			t.Errorf("Range %s: got keys %v, want %v (creation order); entries %s", when, got, keys, keysOf(rg.Entries))
		}
		wantCreationOrder(t, "Range "+when, rg.Entries)
	}
	want("after puts", order...)
	e.update(t, ctx, sdk.UpdateRequest{Resource: r, Key: "e", Value: []byte("x"), ExpectRev: revs["e"]})
	want("after an Update of the first entry", order...)
	e.put(t, ctx, sdk.PutRequest{Resource: r, Key: "c", Value: []byte("y"), Session: s.ID})
	want("after a replacing put of the second entry", order...)
	e.delete(t, ctx, sdk.DeleteRequest{Resource: r, Key: "a"})
	want("after deleting the middle entry", "e", "c", "d", "b")
	e.put(t, ctx, sdk.PutRequest{Resource: r, Key: "a", Session: s.ID, IfAbsent: true})
	want("after recreating the deleted entry", "e", "c", "d", "b", "a")
}

// checkPutWithRange: a put WithRange returns the resource's entries
// including the new one, in creation order, as Range would.
func checkPutWithRange(t tb, e *env) {
	ctx := e.ctx(t, 0)
	s := e.open(t, ctx, e.b, longTTL)
	r := e.resource("r")
	var keys []string
	for _, k := range []string{"q1", "q0", "q2"} {
		p := e.put(t, ctx, sdk.PutRequest{Resource: r, Key: k, Value: []byte(k), Session: s.ID, IfAbsent: true, WithRange: true})
		keys = append(keys, k)
		if len(p.Entries) != len(keys) {
			t.Errorf("put %s with range: got %s, want %d entries %v", k, keysOf(p.Entries), len(keys), keys)
			continue
		}
		for i, en := range p.Entries {
			if en.Key != keys[i] {
				t.Errorf("put %s with range: got %s, want keys %v in creation order", k, keysOf(p.Entries), keys)
				break
			}
		}
		own, ok := find(p.Entries, k)
		if ok && (own.CreateRev != p.CreateRev || own.ModRev != p.ModRev || own.Session != s.ID || string(own.Value) != k) {
			t.Errorf("put %s with range: its own entry is %+v, want CreateRev %d, ModRev %d, session %s", k, own, p.CreateRev, p.ModRev, s.ID)
		}
		if p.Rev < p.ModRev {
			t.Errorf("put %s with range: revision %d is behind its own change %d", k, p.Rev, p.ModRev)
		}
	}
	rg := e.rangeOf(t, ctx, e.b, r)
	if len(rg.Entries) != len(keys) {
		t.Errorf("Range after puts: got %s, want %v", keysOf(rg.Entries), keys)
	}
}

// checkDeleteWithRange: a backend that announces CapDeleteRange answers a
// Delete WithRange with the entries left after it, in creation order, at
// the delete's revision, as a Range at that revision would. (A host grants
// its own next waiter from that answer, so a stale or partial one would
// grant a lock twice.)
func checkDeleteWithRange(t tb, e *env) {
	ctx := e.ctx(t, 0)
	info, err := e.b.Info(ctx)
	if err != nil {
		t.Fatalf("Info: %v", err)
	}
	if !info.Has(sdk.CapDeleteRange) {
		t.Skipf("the backend does not announce %q", sdk.CapDeleteRange)
	}
	s := e.open(t, ctx, e.b, longTTL)
	r := e.resource("r")
	puts := map[string]sdk.PutResult{}
	for _, k := range []string{"q1", "q0", "q2", "q3"} {
		puts[k] = e.put(t, ctx, sdk.PutRequest{Resource: r, Key: k, Value: []byte(k), Session: s.ID, IfAbsent: true})
	}
	left := []string{"q1", "q0", "q2", "q3"}
	for _, k := range []string{"q0", "q1", "q3", "q2"} {
		d := e.delete(t, ctx, sdk.DeleteRequest{Resource: r, Key: k, ExpectRev: puts[k].ModRev, WithRange: true})
		left = slices.DeleteFunc(left, func(x string) bool { return x == k })
		rg := e.rangeOf(t, ctx, e.b, r)
		if rg.Rev != d.Rev {
			t.Fatalf("delete %s: revision %d, but Range right after it is at %d with nothing else writing", k, d.Rev, rg.Rev)
		}
		if len(d.Entries) != len(left) {
			t.Errorf("delete %s with range: entries after the delete %s, want %v", k, keysOf(d.Entries), left)
			continue
		}
		for i, en := range d.Entries {
			want := puts[left[i]]
			if en.Key != left[i] || en.CreateRev != want.CreateRev || en.ModRev != want.ModRev || en.Session != s.ID || string(en.Value) != left[i] {
				t.Errorf("delete %s with range: entries after the delete %s (entry %d %+v), want %v in creation order, as put", k, keysOf(d.Entries), i, en, left)
				break
			}
		}
	}
}

// putRecord is one put WithRange of the concurrent snapshot check.
type putRecord struct {
	key       string
	create    int64
	mod       int64
	deleted   int64 // revision of its delete, 0 if it stayed
	snapshot  []sdk.Entry
	snapshotR int64
}

// checkPutWithRangeConcurrent: many clients put WithRange at once, and
// delete half of their entries again. Each put's list must be the
// resource's exact state at the put's own revision: its own entry, every
// entry created before it and not yet deleted, nothing created after it.
// No two changes may share a revision.
func checkPutWithRangeConcurrent(t tb, e *env) {
	ctx := e.ctx(t, 0)
	r := e.resource("r")
	const rounds = 6
	sessions := make([]sdk.Session, e.cfg.clients)
	for i := range sessions {
		sessions[i] = e.open(t, ctx, e.b, longTTL)
	}
	var (
		mu      sync.Mutex
		records []*putRecord
		errs    []error
		wg      sync.WaitGroup
	)
	start := make(chan struct{})
	for c := range e.cfg.clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			for i := range rounds {
				key := fmt.Sprintf("c%02d-%d", c, i)
				p, err := e.b.Put(ctx, sdk.PutRequest{Resource: r, Key: key, Session: sessions[c].ID, IfAbsent: true, WithRange: true})
				if err != nil {
					mu.Lock()
					errs = append(errs, fmt.Errorf("put %s: %w", key, err))
					mu.Unlock()
					return
				}
				rec := &putRecord{key: key, create: p.CreateRev, mod: p.ModRev, snapshot: p.Entries, snapshotR: p.Rev}
				if i%2 == 0 {
					d, err := e.b.Delete(ctx, sdk.DeleteRequest{Resource: r, Key: key, ExpectRev: p.ModRev})
					if err != nil {
						mu.Lock()
						errs = append(errs, fmt.Errorf("delete %s: %w", key, err))
						mu.Unlock()
						return
					}
					rec.deleted = d.Rev
				}
				mu.Lock()
				records = append(records, rec)
				mu.Unlock()
			}
		}()
	}
	close(start)
	wg.Wait()
	for _, err := range errs {
		t.Errorf("concurrent clients: %v", err)
	}
	if len(errs) > 0 {
		return
	}

	byRev := map[int64]string{}
	byKey := map[string]*putRecord{}
	claim := func(rev int64, what string) {
		if prev, ok := byRev[rev]; ok {
			t.Errorf("revision %d given to two changes: %s and %s", rev, prev, what)
		}
		byRev[rev] = what
	}
	for _, rec := range records {
		byKey[rec.key] = rec
		claim(rec.create, "put "+rec.key)
		if rec.deleted != 0 {
			claim(rec.deleted, "delete "+rec.key)
		}
	}
	reported := 0
	for _, rec := range records {
		if reported >= 10 {
			t.Errorf("more inconsistent snapshots not shown")
			break
		}
		if msg := snapshotProblem(rec, records, byKey); msg != "" {
			t.Errorf("put %s at revision %d with range returned %s: %s", rec.key, rec.mod, keysOf(rec.snapshot), msg)
			reported++
		}
	}
}

// snapshotProblem says how rec's snapshot differs from the resource's
// state at rec's revision, or returns "".
func snapshotProblem(rec *putRecord, all []*putRecord, byKey map[string]*putRecord) string {
	at := rec.mod
	got := map[string]bool{}
	for i, en := range rec.snapshot {
		if i > 0 && en.CreateRev <= rec.snapshot[i-1].CreateRev {
			return "entries not in creation order"
		}
		got[en.Key] = true
		o, ok := byKey[en.Key]
		if !ok {
			return fmt.Sprintf("it holds %s, which no client put", en.Key)
		}
		if en.CreateRev != o.create {
			return fmt.Sprintf("it shows %s with CreateRev %d, but its put returned %d", en.Key, en.CreateRev, o.create)
		}
		if o.create > at {
			return fmt.Sprintf("it holds %s, created later at revision %d: the range was not taken atomically with the put", en.Key, o.create)
		}
		if o.deleted != 0 && o.deleted <= at {
			return fmt.Sprintf("it holds %s, deleted earlier at revision %d", en.Key, o.deleted)
		}
	}
	if !got[rec.key] {
		return "its own entry is missing"
	}
	for _, o := range all {
		live := o.create <= at && (o.deleted == 0 || o.deleted > at)
		if live && !got[o.key] {
			return fmt.Sprintf("it lacks %s, created at revision %d and live until %s", o.key, o.create, until(o.deleted))
		}
	}
	if rec.snapshotR < rec.mod {
		return fmt.Sprintf("its revision %d is behind the put's own %d", rec.snapshotR, rec.mod)
	}
	return ""
}

func until(rev int64) string {
	if rev == 0 {
		return "the end"
	}
	return fmt.Sprintf("revision %d", rev)
}

// checkRangeResources: sdk.RangeResources (one call to a plugin) gives,
// for every resource with the prefix, what Range gives for it — entries in
// creation order and the resource's revision — including more resources
// than one message of the call carries; it lists no other name.
func checkRangeResources(t tb, e *env) {
	ctx := e.ctx(t, 0)
	s := e.open(t, ctx, e.b, longTTL)
	const n = 260 // more than one batch of the gRPC stream (256)
	want := map[string]sdk.RangeResult{}
	for i := 0; i < n; i++ {
		r := e.resource(fmt.Sprintf("many/%03d", i))
		e.put(t, ctx, sdk.PutRequest{Resource: r, Key: "a", Value: []byte("v"), Session: s.ID, IfAbsent: true})
		if i%50 == 0 {
			e.put(t, ctx, sdk.PutRequest{Resource: r, Key: "b", Session: s.ID, IfAbsent: true})
		}
	}
	if _, err := e.b.Resources(ctx, e.prefix); err != nil {
		t.Skipf("Resources: %v; the store does not enumerate, RangeResources not checked", err)
	}
	for i := 0; i < n; i++ {
		r := e.resource(fmt.Sprintf("many/%03d", i))
		want[r] = e.rangeOf(t, ctx, e.b, r)
	}
	got, err := sdk.RangeResources(ctx, e.b, e.prefix)
	if err != nil {
		t.Fatalf("RangeResources(%q): %v", e.prefix, err)
	}
	seen := map[string]bool{}
	for _, rr := range got {
		if !strings.HasPrefix(rr.Resource, e.prefix) {
			t.Errorf("RangeResources(%q) listed %q", e.prefix, rr.Resource)
			continue
		}
		if seen[rr.Resource] {
			t.Errorf("RangeResources listed %q twice", rr.Resource)
		}
		seen[rr.Resource] = true
		w, ok := want[rr.Resource]
		if !ok {
			continue
		}
		if rr.Rev != w.Rev || keysOf(rr.Entries) != keysOf(w.Entries) {
			t.Errorf("RangeResources: %s at rev %d with %s; Range: rev %d with %s", rr.Resource, rr.Rev, keysOf(rr.Entries), w.Rev, keysOf(w.Entries))
		}
		wantCreationOrder(t, "RangeResources of "+rr.Resource, rr.Entries)
	}
	for r := range want {
		if !seen[r] {
			t.Errorf("RangeResources(%q) missed %q, which has live entries", e.prefix, r)
		}
	}
}
