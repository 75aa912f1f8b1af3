package backendtest

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/locksmithx/locksmith/sdk"
)

// longTTL is the TTL of sessions that must not expire during a check.
const longTTL = 60 * time.Second

// ctx returns a context that ends after the configured timeout plus extra,
// or when the check ends.
func (e *env) ctx(t tb, extra time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), e.cfg.timeout+extra)
	t.Cleanup(cancel)
	return ctx
}

// open opens a session on b that the check revokes when it ends.
func (e *env) open(t tb, ctx context.Context, b sdk.Backend, ttl time.Duration) sdk.Session {
	t.Helper()
	s, err := b.OpenSession(ctx, ttl, map[string]string{"owner": t.Name()})
	if err != nil {
		t.Fatalf("OpenSession(%v): %v", ttl, err)
	}
	if s.ID == "" {
		t.Fatalf("OpenSession(%v) returned an empty session id", ttl)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), e.cfg.timeout)
		defer cancel()
		_ = b.Revoke(ctx, s.ID)
	})
	return s
}

func (e *env) put(t tb, ctx context.Context, req sdk.PutRequest) sdk.PutResult {
	t.Helper()
	r, err := e.b.Put(ctx, req)
	if err != nil {
		t.Fatalf("Put %s %s (ifAbsent %v): %v", req.Resource, req.Key, req.IfAbsent, err)
	}
	return r
}

func (e *env) update(t tb, ctx context.Context, req sdk.UpdateRequest) sdk.UpdateResult {
	t.Helper()
	r, err := e.b.Update(ctx, req)
	if err != nil {
		t.Fatalf("Update %s %s expecting revision %d: %v", req.Resource, req.Key, req.ExpectRev, err)
	}
	return r
}

func (e *env) delete(t tb, ctx context.Context, req sdk.DeleteRequest) sdk.DeleteResult {
	t.Helper()
	r, err := e.b.Delete(ctx, req)
	if err != nil {
		t.Fatalf("Delete %s %s expecting revision %d: %v", req.Resource, req.Key, req.ExpectRev, err)
	}
	return r
}

func (e *env) rangeOf(t tb, ctx context.Context, b sdk.Backend, resource string) sdk.RangeResult {
	t.Helper()
	r, err := b.Range(ctx, resource)
	if err != nil {
		t.Fatalf("Range %s: %v", resource, err)
	}
	return r
}

// wantErr fails the check unless err matches target.
func wantErr(t tb, what string, err, target error) {
	t.Helper()
	switch {
	case err == nil:
		t.Errorf("%s: got no error, want %s", what, sdk.CodeOf(target))
	case !errors.Is(err, target):
		t.Errorf("%s: got error %v (code %s), want %s", what, err, sdk.CodeOf(err), sdk.CodeOf(target))
	}
}

// find returns the entry with key, if entries hold it.
func find(entries []sdk.Entry, key string) (sdk.Entry, bool) {
	for _, en := range entries {
		if en.Key == key {
			return en, true
		}
	}
	return sdk.Entry{}, false
}

func keysOf(entries []sdk.Entry) string {
	ks := make([]string, len(entries))
	for i, en := range entries {
		ks[i] = fmt.Sprintf("%s@%d", en.Key, en.CreateRev)
	}
	return "[" + strings.Join(ks, " ") + "]"
}

// wantCreationOrder fails the check unless entries are in strictly
// ascending CreateRev order.
func wantCreationOrder(t tb, what string, entries []sdk.Entry) {
	t.Helper()
	for i := 1; i < len(entries); i++ {
		if entries[i].CreateRev <= entries[i-1].CreateRev {
			t.Errorf("%s: entries not in creation order: %s", what, keysOf(entries))
			return
		}
	}
}

// waitGone polls b until resource no longer holds key or the deadline
// passes, and reports when it went.
func waitGone(ctx context.Context, b sdk.Backend, resource, key string, deadline time.Time) (time.Time, error) {
	for {
		r, err := b.Range(ctx, resource)
		if err != nil {
			return time.Time{}, fmt.Errorf("range %s: %w", resource, err)
		}
		now := time.Now()
		if _, ok := find(r.Entries, key); !ok {
			return now, nil
		}
		if now.After(deadline) {
			return time.Time{}, fmt.Errorf("entry %s still live at %s", key, now.Format(time.TimeOnly+".000"))
		}
		select {
		case <-ctx.Done():
			return time.Time{}, ctx.Err()
		case <-time.After(25 * time.Millisecond):
		}
	}
}
