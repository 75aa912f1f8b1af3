package backendtest

import (
	"bytes"

	"github.com/locksmithx/locksmith/sdk"
)

// checkRevisionsIncrease: a resource never written has no entry, at
// revision 0 or a floor the store keeps, below its first change; every
// change of a resource — put, replace, update, delete — gets a revision
// above the one before, and Range's revision is not behind any change or
// entry.
func checkRevisionsIncrease(t tb, e *env) {
	ctx := e.ctx(t, 0)
	s := e.open(t, ctx, e.b, longTTL)
	r := e.resource("r")
	fresh := e.rangeOf(t, ctx, e.b, r)
	if fresh.Rev < 0 || len(fresh.Entries) != 0 {
		t.Errorf("Range of a resource never written: revision %d, entries %s; want no entry, at revision 0 or the floor the store keeps", fresh.Rev, keysOf(fresh.Entries))
	}
	last := fresh.Rev
	step := func(what string, rev, resRev int64) {
		t.Helper()
		if rev <= fresh.Rev {
			t.Errorf("%s: revision %d is not above %d, the revision Range gave the resource never written", what, rev, fresh.Rev)
		}
		if rev <= last {
			t.Errorf("%s: revision %d does not exceed the previous change's %d", what, rev, last)
		}
		if resRev < rev {
			t.Errorf("%s: resource revision %d is behind the change's own %d", what, resRev, rev)
		}
		last = rev
	}
	pa := e.put(t, ctx, sdk.PutRequest{Resource: r, Key: "a", Value: []byte("1"), Session: s.ID})
	step("put a", pa.ModRev, pa.Rev)
	pb := e.put(t, ctx, sdk.PutRequest{Resource: r, Key: "b", Value: []byte("1"), Session: s.ID, IfAbsent: true})
	step("put b", pb.ModRev, pb.Rev)
	ua := e.update(t, ctx, sdk.UpdateRequest{Resource: r, Key: "a", Value: []byte("2"), ExpectRev: pa.ModRev})
	step("update a", ua.ModRev, ua.Rev)
	pb2 := e.put(t, ctx, sdk.PutRequest{Resource: r, Key: "b", Value: []byte("2"), Session: s.ID})
	step("replace b", pb2.ModRev, pb2.Rev)
	da := e.delete(t, ctx, sdk.DeleteRequest{Resource: r, Key: "a", ExpectRev: ua.ModRev})
	step("delete a", da.Rev, da.Rev)
	pc := e.put(t, ctx, sdk.PutRequest{Resource: r, Key: "c", Session: s.ID, WithRange: true})
	step("put c with range", pc.ModRev, pc.Rev)

	rg := e.rangeOf(t, ctx, e.b, r)
	if rg.Rev < last {
		t.Errorf("Range: revision %d is behind the last change's %d", rg.Rev, last)
	}
	for _, en := range rg.Entries {
		if en.ModRev > rg.Rev {
			t.Errorf("Range: entry %s has ModRev %d above the range's revision %d", en.Key, en.ModRev, rg.Rev)
		}
		if en.CreateRev > en.ModRev {
			t.Errorf("Range: entry %s has CreateRev %d above its ModRev %d", en.Key, en.CreateRev, en.ModRev)
		}
	}
}

// checkPutCreatesAndReplaces: a new entry has CreateRev == ModRev; a put
// over it keeps CreateRev and takes a new ModRev and value.
func checkPutCreatesAndReplaces(t tb, e *env) {
	ctx := e.ctx(t, 0)
	s := e.open(t, ctx, e.b, longTTL)
	r := e.resource("r")
	p := e.put(t, ctx, sdk.PutRequest{Resource: r, Key: "k", Value: []byte("v1"), Session: s.ID})
	if p.CreateRev <= 0 || p.CreateRev != p.ModRev {
		t.Errorf("put of a new key: CreateRev %d, ModRev %d; want equal and positive", p.CreateRev, p.ModRev)
	}
	en := wantEntry(t, e, r, "k", "after the first put")
	if en.CreateRev != p.CreateRev || en.ModRev != p.ModRev || en.Session != s.ID || !bytes.Equal(en.Value, []byte("v1")) {
		t.Errorf("Range after put: got %+v, want CreateRev=ModRev=%d, session %s, value v1", en, p.CreateRev, s.ID)
	}

	p2 := e.put(t, ctx, sdk.PutRequest{Resource: r, Key: "k", Value: []byte("v2"), Session: s.ID})
	if p2.CreateRev != p.CreateRev {
		t.Errorf("replacing put: CreateRev %d, want the original %d", p2.CreateRev, p.CreateRev)
	}
	if p2.ModRev <= p.ModRev {
		t.Errorf("replacing put: ModRev %d, want above the previous %d", p2.ModRev, p.ModRev)
	}
	en = wantEntry(t, e, r, "k", "after the replacing put")
	if en.CreateRev != p.CreateRev || en.ModRev != p2.ModRev || !bytes.Equal(en.Value, []byte("v2")) {
		t.Errorf("Range after replacing put: got %+v, want CreateRev %d, ModRev %d, value v2", en, p.CreateRev, p2.ModRev)
	}
}

// checkPutIfAbsent: a second IfAbsent put of a key fails with ErrExists
// and changes nothing; after a delete the key can be created again.
func checkPutIfAbsent(t tb, e *env) {
	ctx := e.ctx(t, 0)
	s := e.open(t, ctx, e.b, longTTL)
	s2 := e.open(t, ctx, e.b, longTTL)
	r := e.resource("r")
	p := e.put(t, ctx, sdk.PutRequest{Resource: r, Key: "k", Value: []byte("first"), Session: s.ID, IfAbsent: true})
	_, err := e.b.Put(ctx, sdk.PutRequest{Resource: r, Key: "k", Value: []byte("second"), Session: s2.ID, IfAbsent: true})
	wantErr(t, "second IfAbsent put of the same key", err, sdk.ErrExists)
	en := wantEntry(t, e, r, "k", "after the refused put")
	if en.ModRev != p.ModRev || en.Session != s.ID || !bytes.Equal(en.Value, []byte("first")) {
		t.Errorf("refused put changed the entry: got %+v, want ModRev %d, session %s, value first", en, p.ModRev, s.ID)
	}
	e.delete(t, ctx, sdk.DeleteRequest{Resource: r, Key: "k"})
	p2 := e.put(t, ctx, sdk.PutRequest{Resource: r, Key: "k", Session: s2.ID, IfAbsent: true})
	if p2.CreateRev <= p.ModRev {
		t.Errorf("IfAbsent put after delete: CreateRev %d, want above %d", p2.CreateRev, p.ModRev)
	}
}

// checkUpdateCompareAndSwap: Update with the current ModRev succeeds and
// keeps CreateRev; a stale or unknown revision fails with ErrRevMismatch
// and changes nothing; a missing key fails with ErrNotFound. ExpectRev 0
// is not a wildcard: ErrRevMismatch on an entry, ErrNotFound without one.
func checkUpdateCompareAndSwap(t tb, e *env) {
	ctx := e.ctx(t, 0)
	s := e.open(t, ctx, e.b, longTTL)
	r := e.resource("r")
	p := e.put(t, ctx, sdk.PutRequest{Resource: r, Key: "k", Value: []byte("S"), Session: s.ID, IfAbsent: true})
	u := e.update(t, ctx, sdk.UpdateRequest{Resource: r, Key: "k", Value: []byte("X"), ExpectRev: p.ModRev})
	if u.ModRev <= p.ModRev {
		t.Errorf("Update: ModRev %d, want above %d", u.ModRev, p.ModRev)
	}
	en := wantEntry(t, e, r, "k", "after Update")
	if en.CreateRev != p.CreateRev || en.ModRev != u.ModRev || en.Session != s.ID || !bytes.Equal(en.Value, []byte("X")) {
		t.Errorf("Range after Update: got %+v, want CreateRev %d, ModRev %d, session %s, value X", en, p.CreateRev, u.ModRev, s.ID)
	}

	_, err := e.b.Update(ctx, sdk.UpdateRequest{Resource: r, Key: "k", Value: []byte("stale"), ExpectRev: p.ModRev})
	wantErr(t, "Update with a stale revision", err, sdk.ErrRevMismatch)
	_, err = e.b.Update(ctx, sdk.UpdateRequest{Resource: r, Key: "k", Value: []byte("future"), ExpectRev: u.ModRev + 1000})
	wantErr(t, "Update with a revision the entry never had", err, sdk.ErrRevMismatch)
	en = wantEntry(t, e, r, "k", "after refused Updates")
	if en.ModRev != u.ModRev || !bytes.Equal(en.Value, []byte("X")) {
		t.Errorf("a refused Update changed the entry: got %+v, want ModRev %d, value X", en, u.ModRev)
	}

	_, err = e.b.Update(ctx, sdk.UpdateRequest{Resource: r, Key: "missing", Value: []byte("x"), ExpectRev: p.ModRev})
	wantErr(t, "Update of a missing key", err, sdk.ErrNotFound)
	if rg := e.rangeOf(t, ctx, e.b, r); len(rg.Entries) != 1 {
		t.Errorf("Update of a missing key created something: %s", keysOf(rg.Entries))
	}

	// ExpectRev 0 is no wildcard for Update (unlike Delete): no entry has
	// ModRev 0, so it is a mismatch on an entry, and it never creates one.
	_, err = e.b.Update(ctx, sdk.UpdateRequest{Resource: r, Key: "k", Value: []byte("zero"), ExpectRev: 0})
	wantErr(t, "Update with ExpectRev 0 of an existing entry (0 matches no revision; it is no wildcard)", err, sdk.ErrRevMismatch)
	_, err = e.b.Update(ctx, sdk.UpdateRequest{Resource: r, Key: "absent", Value: []byte("zero"), ExpectRev: 0})
	wantErr(t, "Update with ExpectRev 0 of a missing key (Update never creates)", err, sdk.ErrNotFound)
	rg := e.rangeOf(t, ctx, e.b, r)
	if en, ok := find(rg.Entries, "k"); len(rg.Entries) != 1 || !ok || en.ModRev != u.ModRev || !bytes.Equal(en.Value, []byte("X")) {
		t.Errorf("after Updates with ExpectRev 0: got %s, want only k, unchanged at ModRev %d", keysOf(rg.Entries), u.ModRev)
	}
}

// checkDeleteCompareAndSwap: Delete with a stale revision fails with
// ErrRevMismatch and leaves the entry; with the current one, or 0, it
// removes it; a missing key fails with ErrNotFound.
func checkDeleteCompareAndSwap(t tb, e *env) {
	ctx := e.ctx(t, 0)
	s := e.open(t, ctx, e.b, longTTL)
	r := e.resource("r")
	p := e.put(t, ctx, sdk.PutRequest{Resource: r, Key: "a", Session: s.ID, IfAbsent: true})
	u := e.update(t, ctx, sdk.UpdateRequest{Resource: r, Key: "a", Value: []byte("x"), ExpectRev: p.ModRev})

	_, err := e.b.Delete(ctx, sdk.DeleteRequest{Resource: r, Key: "a", ExpectRev: p.ModRev})
	wantErr(t, "Delete with a stale revision", err, sdk.ErrRevMismatch)
	if en := wantEntry(t, e, r, "a", "after a refused Delete"); en.ModRev != u.ModRev {
		t.Errorf("a refused Delete changed the entry: ModRev %d, want %d", en.ModRev, u.ModRev)
	}

	d := e.delete(t, ctx, sdk.DeleteRequest{Resource: r, Key: "a", ExpectRev: u.ModRev})
	if d.Rev <= u.ModRev {
		t.Errorf("Delete: revision %d, want above %d", d.Rev, u.ModRev)
	}
	if rg := e.rangeOf(t, ctx, e.b, r); len(rg.Entries) != 0 {
		t.Errorf("Delete with the current revision left %s", keysOf(rg.Entries))
	}
	_, err = e.b.Delete(ctx, sdk.DeleteRequest{Resource: r, Key: "a", ExpectRev: u.ModRev})
	wantErr(t, "Delete of a deleted key", err, sdk.ErrNotFound)

	e.put(t, ctx, sdk.PutRequest{Resource: r, Key: "b", Session: s.ID})
	e.delete(t, ctx, sdk.DeleteRequest{Resource: r, Key: "b", ExpectRev: 0})
	if rg := e.rangeOf(t, ctx, e.b, r); len(rg.Entries) != 0 {
		t.Errorf("Delete with ExpectRev 0 left %s", keysOf(rg.Entries))
	}
	_, err = e.b.Delete(ctx, sdk.DeleteRequest{Resource: r, Key: "never"})
	wantErr(t, "Delete of a key that never existed", err, sdk.ErrNotFound)
}

// wantEntry ranges resource and returns its entry key, failing the check
// if it is not there.
func wantEntry(t tb, e *env, resource, key, when string) sdk.Entry {
	t.Helper()
	rg := e.rangeOf(t, e.ctx(t, 0), e.b, resource)
	en, ok := find(rg.Entries, key)
	if !ok {
		t.Fatalf("Range %s %s: entry %s missing; got %s", resource, when, key, keysOf(rg.Entries))
	}
	return en
}

// checkUpdateResourceGuard: an Update with ExpectResourceRev succeeds only
// while the whole resource is still at that revision; any change to another
// entry in between makes it fail with ErrRevMismatch and change nothing.
func checkUpdateResourceGuard(t tb, e *env) {
	ctx := e.ctx(t, 0)
	s := e.open(t, ctx, e.b, longTTL)
	r := e.resource("r")
	pa := e.put(t, ctx, sdk.PutRequest{Resource: r, Key: "a", Value: []byte("S"), Session: s.ID, IfAbsent: true})
	e.put(t, ctx, sdk.PutRequest{Resource: r, Key: "b", Session: s.ID, IfAbsent: true})
	snap := e.rangeOf(t, ctx, e.b, r)
	u := e.update(t, ctx, sdk.UpdateRequest{Resource: r, Key: "a", Value: []byte("U"), ExpectRev: pa.ModRev, ExpectResourceRev: snap.Rev})
	if u.ModRev <= snap.Rev {
		t.Errorf("guarded Update: ModRev %d, want above the resource's %d", u.ModRev, snap.Rev)
	}

	snap = e.rangeOf(t, ctx, e.b, r)
	e.put(t, ctx, sdk.PutRequest{Resource: r, Key: "c", Session: s.ID, IfAbsent: true})
	_, err := e.b.Update(ctx, sdk.UpdateRequest{Resource: r, Key: "a", Value: []byte("X"), ExpectRev: u.ModRev, ExpectResourceRev: snap.Rev})
	wantErr(t, "Update guarded by a resource revision that another entry's put made stale", err, sdk.ErrRevMismatch)
	if en := wantEntry(t, e, r, "a", "after a refused guarded Update"); en.ModRev != u.ModRev || !bytes.Equal(en.Value, []byte("U")) {
		t.Errorf("a refused guarded Update changed the entry: got %+v, want ModRev %d, value U", en, u.ModRev)
	}

	now := e.rangeOf(t, ctx, e.b, r)
	u2 := e.update(t, ctx, sdk.UpdateRequest{Resource: r, Key: "a", Value: []byte("X"), ExpectRev: u.ModRev, ExpectResourceRev: now.Rev})
	e.update(t, ctx, sdk.UpdateRequest{Resource: r, Key: "a", Value: []byte("S"), ExpectRev: u2.ModRev})
}
