package backendtest

import (
	"context"
	"fmt"
	"time"

	"github.com/locksmithx/locksmith/sdk"
)

// checkUnknownSession: a session id the store never issued cannot own
// entries or be kept alive, and revoking it is not an error.
func checkUnknownSession(t tb, e *env) {
	ctx := e.ctx(t, 0)
	r := e.resource("r")
	id := "backendtest-no-such-session-" + randomSuffix()
	_, err := e.b.Put(ctx, sdk.PutRequest{Resource: r, Key: "k", Session: id})
	wantErr(t, "Put with an unknown session", err, sdk.ErrSessionExpired)
	_, err = e.b.Put(ctx, sdk.PutRequest{Resource: r, Key: "k", Session: id, IfAbsent: true, WithRange: true})
	wantErr(t, "Put IfAbsent WithRange with an unknown session", err, sdk.ErrSessionExpired)
	_, err = e.b.KeepAlive(ctx, id)
	wantErr(t, "KeepAlive of an unknown session", err, sdk.ErrSessionExpired)
	if err := e.b.Revoke(ctx, id); err != nil {
		t.Errorf("Revoke of an unknown session: %v, want nil", err)
	}
	if rg := e.rangeOf(t, ctx, e.b, r); len(rg.Entries) != 0 {
		t.Errorf("Put with an unknown session created %s", keysOf(rg.Entries))
	}
}

// checkRevokeRemovesEntries: Revoke removes every entry of the session, in
// every resource, each as a delete event; other sessions' entries stay; the
// session can neither put nor be kept alive again; revoking twice is fine.
func checkRevokeRemovesEntries(t tb, e *env) {
	ctx := e.ctx(t, 0)
	victim := e.open(t, ctx, e.b, longTTL)
	other := e.open(t, ctx, e.b, longTTL)
	r1, r2 := e.resource("r1"), e.resource("r2")
	e.put(t, ctx, sdk.PutRequest{Resource: r1, Key: "a", Session: victim.ID, IfAbsent: true})
	e.put(t, ctx, sdk.PutRequest{Resource: r1, Key: "keep", Session: other.ID, IfAbsent: true})
	last1 := e.put(t, ctx, sdk.PutRequest{Resource: r1, Key: "b", Session: victim.ID, IfAbsent: true}).Rev
	last2 := e.put(t, ctx, sdk.PutRequest{Resource: r2, Key: "c", Session: victim.ID, IfAbsent: true}).Rev
	w1 := e.watch(t, r1, last1+1)
	w2 := e.watch(t, r2, last2+1)

	if err := e.b.Revoke(ctx, victim.ID); err != nil {
		t.Fatalf("Revoke: %v", err)
	}
	wantDeletes(t, "Watch "+r1, w1, victim.ID, last1, "a", "b")
	wantDeletes(t, "Watch "+r2, w2, victim.ID, last2, "c")

	wantOnly := func(when string) {
		t.Helper()
		if rg := e.rangeOf(t, ctx, e.b, r1); len(rg.Entries) != 1 || rg.Entries[0].Key != "keep" {
			t.Errorf("Range %s %s: got %s, want only the other session's entry keep", r1, when, keysOf(rg.Entries))
		}
		if rg := e.rangeOf(t, ctx, e.b, r2); len(rg.Entries) != 0 {
			t.Errorf("Range %s %s: got %s, want nothing", r2, when, keysOf(rg.Entries))
		}
	}
	wantOnly("after Revoke")

	_, err := e.b.Put(ctx, sdk.PutRequest{Resource: r1, Key: "late", Session: victim.ID})
	wantErr(t, "Put with a revoked session", err, sdk.ErrSessionExpired)
	if err := e.b.Revoke(ctx, victim.ID); err != nil {
		t.Errorf("second Revoke: %v, want nil", err)
	}
	_, err = e.b.KeepAlive(ctx, victim.ID)
	wantErr(t, "KeepAlive of a revoked session", err, sdk.ErrSessionExpired)
	wantOnly("after the revoked session tried again")
	if _, err := e.b.KeepAlive(ctx, other.ID); err != nil {
		t.Errorf("KeepAlive of the other session after the Revoke: %v", err)
	}
}

// wantDeletes reads len(keys) events from w and fails the check unless
// they are deletes of exactly keys (in any order), owned by session, at
// increasing revisions above after.
func wantDeletes(t tb, what string, w *watcher, session string, after int64, keys ...string) {
	t.Helper()
	want := map[string]bool{}
	for _, k := range keys {
		want[k] = true
	}
	last := after
	diagnose := func(rg sdk.RangeResult) string {
		var left []string
		for _, en := range rg.Entries {
			if want[en.Key] {
				left = append(left, en.Key)
			}
		}
		if len(left) > 0 {
			return fmt.Sprintf("%v still there: a revoked or expired session's entries must be removed", left)
		}
		return "the entries are gone, but Watch did not report their removal: every removal is a change Watch must see, at a revision of its own"
	}
	for range keys {
		ev := w.nextOr(t, diagnose)
		if ev.Type != sdk.EventDelete || !want[ev.Entry.Key] {
			t.Errorf("%s: got %s %s at revision %d, want a delete of one of %v", what, ev.Type, ev.Entry.Key, ev.Rev, keys)
			continue
		}
		delete(want, ev.Entry.Key)
		if ev.Rev <= last {
			t.Errorf("%s: delete of %s at revision %d, want above %d", what, ev.Entry.Key, ev.Rev, last)
		}
		last = ev.Rev
		if ev.Entry.Session != session {
			t.Errorf("%s: delete of %s reports session %q, want %q", what, ev.Entry.Key, ev.Entry.Session, session)
		}
	}
}

// checkSessionExpires: a session nobody keeps alive loses its entries
// within its TTL plus the slack (not before its TTL), a watcher sees the
// delete without anything else touching the store, and the session cannot
// be kept alive or own entries afterwards.
func checkSessionExpires(t tb, e *env) {
	ctx := e.ctx(t, e.cfg.ttl+e.cfg.slack)
	r := e.resource("r")
	opened := time.Now()
	s := e.open(t, ctx, e.b, e.cfg.ttl)
	if s.TTL <= 0 {
		t.Fatalf("OpenSession(%v) granted TTL %v", e.cfg.ttl, s.TTL)
	}
	p := e.put(t, ctx, sdk.PutRequest{Resource: r, Key: "k", Session: s.ID, IfAbsent: true})
	w := e.watch(t, r, p.Rev+1)

	// Expiry must be observable through Watch alone: nothing but the
	// watch touches the store until the delete arrives (the host waits on
	// watches, not on reads).
	w.timeout = s.TTL + e.cfg.slack
	ev := w.nextOr(t, func(rg sdk.RangeResult) string {
		if _, ok := find(rg.Entries, "k"); ok {
			return fmt.Sprintf("the session (TTL %v, not kept alive) has not expired %v after it opened: a session must expire on its own, within its TTL plus the slack, without a read to trigger it", s.TTL, time.Since(opened).Round(time.Millisecond))
		}
		return "the entry is gone, but Watch did not report its removal: an expiry must be seen by Watch"
	})
	gone := time.Now()
	if ev.Type != sdk.EventDelete || ev.Entry.Key != "k" || ev.Entry.Session != s.ID || ev.Rev <= p.Rev {
		t.Errorf("Watch after expiry: got %s %s (session %q) at revision %d, want the delete of k (session %q) above %d", ev.Type, ev.Entry.Key, ev.Entry.Session, ev.Rev, s.ID, p.Rev)
	}
	if early := s.TTL / 20; gone.Sub(opened) < s.TTL-early {
		t.Errorf("session with TTL %v lost its entry %v after it opened, before its TTL", s.TTL, gone.Sub(opened).Round(time.Millisecond))
	}
	t.Logf("expiry seen by Watch %v after the session opened (TTL %v)", gone.Sub(opened).Round(time.Millisecond), s.TTL)

	var err error
	_, err = e.b.KeepAlive(ctx, s.ID)
	wantErr(t, "KeepAlive of an expired session", err, sdk.ErrSessionExpired)
	_, err = e.b.Put(ctx, sdk.PutRequest{Resource: r, Key: "late", Session: s.ID})
	wantErr(t, "Put with an expired session", err, sdk.ErrSessionExpired)
	if rg := e.rangeOf(t, ctx, e.b, r); len(rg.Entries) != 0 {
		t.Errorf("Range after expiry: got %s, want nothing", keysOf(rg.Entries))
	}
}

// checkSessionKeptAlive: a session kept alive every third of its TTL keeps
// its entries well past twice its TTL.
func checkSessionKeptAlive(t tb, e *env) {
	r := e.resource("r")
	s := e.open(t, e.ctx(t, 0), e.b, e.cfg.ttl)
	if s.TTL <= 0 {
		t.Fatalf("OpenSession(%v) granted TTL %v", e.cfg.ttl, s.TTL)
	}
	hold := 2*s.TTL + s.TTL/2
	ctx := e.ctx(t, hold)
	e.put(t, ctx, sdk.PutRequest{Resource: r, Key: "k", Session: s.ID, IfAbsent: true})
	start := time.Now()
	tick := time.NewTicker(s.TTL / 3)
	defer tick.Stop()
	for time.Since(start) < hold {
		select {
		case <-ctx.Done():
			t.Fatalf("kept-alive session: %v", ctx.Err())
		case <-tick.C:
		}
		kctx, cancel := context.WithTimeout(ctx, e.cfg.timeout)
		ttl, err := e.b.KeepAlive(kctx, s.ID)
		cancel()
		if err != nil {
			t.Fatalf("KeepAlive %v after the session opened: %v", time.Since(start).Round(time.Millisecond), err)
		}
		if ttl <= 0 {
			t.Errorf("KeepAlive returned TTL %v", ttl)
		}
		if rg := e.rangeOf(t, ctx, e.b, r); len(rg.Entries) != 1 {
			t.Fatalf("entry of a kept-alive session (TTL %v) gone %v after it opened", s.TTL, time.Since(start).Round(time.Millisecond))
		}
	}
	e.put(t, ctx, sdk.PutRequest{Resource: r, Key: "late", Session: s.ID, IfAbsent: true})
}

// promptRevoke bounds how long a broken keep-alive stream may take to
// revoke its session.
const promptRevoke = 5 * time.Second

// checkBrokenKeepAliveStream: when the connection carrying a session's
// keep-alive stream breaks (its host died), the session is revoked at once,
// long before its TTL could explain it.
func checkBrokenKeepAliveStream(t tb, e *env) {
	if e.dial == nil {
		t.Skipf("needs a second gRPC connection to the backend")
	}
	ctx := e.ctx(t, promptRevoke)
	r := e.resource("r")
	second, breakConn := e.dial()
	s, err := second.OpenSession(ctx, 30*time.Second, nil)
	if err != nil {
		t.Fatalf("OpenSession over the second connection: %v", err)
	}
	if s.TTL < 4*promptRevoke {
		_ = e.b.Revoke(ctx, s.ID)
		t.Skipf("store granted TTL %v for 30s; too short to tell a revocation from an expiry", s.TTL)
	}
	if _, err := second.KeepAlive(ctx, s.ID); err != nil {
		t.Fatalf("KeepAlive over the second connection: %v", err)
	}
	if _, err := second.Put(ctx, sdk.PutRequest{Resource: r, Key: "k", Session: s.ID, IfAbsent: true}); err != nil {
		t.Fatalf("Put over the second connection: %v", err)
	}
	if rg := e.rangeOf(t, ctx, e.b, r); len(rg.Entries) != 1 {
		t.Fatalf("Range over the first connection: got %s, want the entry put over the second", keysOf(rg.Entries))
	}

	broken := time.Now()
	breakConn()
	if _, err := waitGone(ctx, e.b, r, "k", broken.Add(promptRevoke)); err != nil {
		t.Fatalf("session whose keep-alive stream broke (TTL %v): %v, %v after the break", s.TTL, err, time.Since(broken).Round(time.Millisecond))
	}
	t.Logf("entry gone %v after the connection broke", time.Since(broken).Round(time.Millisecond))
	_, err = e.b.KeepAlive(ctx, s.ID)
	wantErr(t, "KeepAlive over the first connection of the session whose stream broke", err, sdk.ErrSessionExpired)
}
