package backendtest

import (
	"context"
	"time"

	"github.com/locksmithx/locksmith/sdk"
)

// adopter returns b as a SessionAdopter, skipping the check when the
// backend does not announce CapAdopt.
func adopter(t tb, e *env, b sdk.Backend) sdk.SessionAdopter {
	t.Helper()
	info, err := b.Info(e.ctx(t, 0))
	if err != nil {
		t.Fatalf("Info: %v", err)
	}
	if !info.Has(sdk.CapAdopt) {
		t.Skipf("the backend does not announce %q", sdk.CapAdopt)
	}
	ad, ok := b.(sdk.SessionAdopter)
	if !ok {
		t.Fatalf("the backend announces %q but %T does not implement sdk.SessionAdopter", sdk.CapAdopt, b)
	}
	return ad
}

// crashed opens a session with entries on the backend under test, crashes
// that backend and returns a fresh backend on the same store, the session
// and the put results, in order. The check skips without WithCrash.
func crashed(t tb, e *env, ctx context.Context, ttl time.Duration, puts ...sdk.PutRequest) (sdk.Backend, sdk.Session, []sdk.PutResult) {
	t.Helper()
	adopter(t, e, e.b)
	if e.crash == nil {
		t.Skipf("needs backendtest.WithCrash to crash a backend")
	}
	s := e.open(t, ctx, e.b, ttl)
	if s.Anchor != nil {
		t.Cleanup(func() { _ = s.Anchor.Close() })
	}
	var res []sdk.PutResult
	for _, p := range puts {
		p.Session = s.ID
		res = append(res, e.put(t, ctx, p))
	}
	e.crash()
	b := e.fresh()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), e.cfg.timeout)
		defer cancel()
		_ = b.Revoke(ctx, s.ID)
	})
	return b, s, res
}

// checkAdoptUnknownOrEnded: adopting a session the store never issued, or
// one that was revoked, fails with ErrSessionExpired.
func checkAdoptUnknownOrEnded(t tb, e *env) {
	ctx := e.ctx(t, 0)
	ad := adopter(t, e, e.b)
	_, err := ad.AdoptSession(ctx, "backendtest-no-such-session-"+randomSuffix(), longTTL, nil)
	wantErr(t, "AdoptSession of an unknown session", err, sdk.ErrSessionExpired)
	_, err = ad.AdoptSession(ctx, "0123456789abcdef0123456789abcdef", longTTL, nil)
	wantErr(t, "AdoptSession of a session id never issued", err, sdk.ErrSessionExpired)

	s := e.open(t, ctx, e.b, longTTL)
	if s.Anchor != nil {
		defer s.Anchor.Close()
	}
	if err := e.b.Revoke(ctx, s.ID); err != nil {
		t.Fatalf("Revoke: %v", err)
	}
	b := e.b
	if e.fresh != nil {
		b = e.fresh()
		ad = adopter(t, e, b)
	}
	_, err = ad.AdoptSession(ctx, s.ID, longTTL, s.Anchor)
	wantErr(t, "AdoptSession of a revoked session", err, sdk.ErrSessionExpired)
	_, err = b.KeepAlive(ctx, s.ID)
	wantErr(t, "KeepAlive of a revoked session after an adoption was refused", err, sdk.ErrSessionExpired)
}

// checkAdoptedKeepsEntries: a fresh backend adopts the session of a
// crashed one; the session keeps its entries (same revisions), can be kept
// alive and put entries, and its Revoke removes all of them, those put
// before the crash included.
func checkAdoptedKeepsEntries(t tb, e *env) {
	ctx := e.ctx(t, 0)
	r1, r2 := e.resource("r1"), e.resource("r2")
	b, s, res := crashed(t, e, ctx, longTTL,
		sdk.PutRequest{Resource: r1, Key: "a", Value: []byte("1"), IfAbsent: true},
		sdk.PutRequest{Resource: r2, Key: "b", Value: []byte("2"), IfAbsent: true})
	got, err := adopter(t, e, b).AdoptSession(ctx, s.ID, s.TTL, s.Anchor)
	if err != nil {
		t.Fatalf("AdoptSession of a crashed backend's live session: %v", err)
	}
	if got.ID != s.ID || got.TTL <= 0 {
		t.Errorf("AdoptSession returned %q TTL %v, want %q and a positive TTL", got.ID, got.TTL, s.ID)
	}
	for i, r := range []string{r1, r2} {
		rg := e.rangeOf(t, ctx, b, r)
		if len(rg.Entries) != 1 || rg.Entries[0].CreateRev != res[i].CreateRev || rg.Entries[0].Session != s.ID {
			t.Fatalf("Range %s after the adoption: got %s, want the entry put before the crash at revision %d", r, keysOf(rg.Entries), res[i].CreateRev)
		}
	}
	if _, err := b.KeepAlive(ctx, s.ID); err != nil {
		t.Fatalf("KeepAlive of the adopted session: %v", err)
	}
	if _, err := b.Put(ctx, sdk.PutRequest{Resource: r1, Key: "c", Session: s.ID, IfAbsent: true}); err != nil {
		t.Fatalf("Put with the adopted session: %v", err)
	}
	if err := b.Revoke(ctx, s.ID); err != nil {
		t.Fatalf("Revoke of the adopted session: %v", err)
	}
	for _, r := range []string{r1, r2} {
		if rg := e.rangeOf(t, ctx, b, r); len(rg.Entries) != 0 {
			t.Errorf("Range %s after the adopted session was revoked: got %s, want nothing", r, keysOf(rg.Entries))
		}
	}
	_, err = b.KeepAlive(ctx, s.ID)
	wantErr(t, "KeepAlive of a revoked adopted session", err, sdk.ErrSessionExpired)
}

// checkAdoptedExpires: an adopted session nobody keeps alive loses its
// entries within its TTL (counted from the adoption) plus the slack.
func checkAdoptedExpires(t tb, e *env) {
	ctx := e.ctx(t, e.cfg.ttl+e.cfg.slack)
	r := e.resource("r")
	b, s, _ := crashed(t, e, ctx, e.cfg.ttl, sdk.PutRequest{Resource: r, Key: "k", IfAbsent: true})
	adoptedAt := time.Now()
	if _, err := adopter(t, e, b).AdoptSession(ctx, s.ID, s.TTL, s.Anchor); err != nil {
		t.Fatalf("AdoptSession: %v", err)
	}
	if s.Anchor != nil {
		// The host gives the anchor up with the session: only the
		// adopting backend's TTL keeps it now.
		_ = s.Anchor.Close()
	}
	if _, err := waitGone(ctx, b, r, "k", adoptedAt.Add(s.TTL+e.cfg.slack)); err != nil {
		t.Fatalf("adopted session with TTL %v, not kept alive: %v", s.TTL, err)
	}
	_, err := b.KeepAlive(ctx, s.ID)
	wantErr(t, "KeepAlive of an expired adopted session", err, sdk.ErrSessionExpired)
}
