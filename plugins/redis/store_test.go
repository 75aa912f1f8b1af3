package redis

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/locksmithx/locksmith/internal/redistest"
	"github.com/locksmithx/locksmith/sdk"
)

// open configures a store on addrs with a prefix of its own and closes it
// when the test ends.
func open(t testing.TB, addrs []string, extra sdk.Config) *Store {
	t.Helper()
	cfg := sdk.Config{"addrs": toAny(addrs), "prefix": "t" + strings.ReplaceAll(t.Name(), "/", ".") + ":"}
	for k, v := range extra {
		cfg[k] = v
	}
	s := New()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := s.Configure(ctx, cfg); err != nil {
		t.Fatalf("configure: %v", err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}

func toAny(ss []string) []any {
	out := make([]any, len(ss))
	for i, s := range ss {
		out[i] = s
	}
	return out
}

func ctxT(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func mustSession(t testing.TB, s sdk.Backend, ttl time.Duration) string {
	t.Helper()
	sess, err := s.OpenSession(ctxT(t), ttl, map[string]string{"who": t.Name()})
	if err != nil {
		t.Fatalf("open session: %v", err)
	}
	return sess.ID
}

func TestBasicOps(t *testing.T) {
	srv := redistest.Start(t)
	s := open(t, []string{srv.Addr}, nil)
	ctx := ctxT(t)
	a := mustSession(t, s, 5*time.Second)
	b := mustSession(t, s, 5*time.Second)

	p1, err := s.Put(ctx, sdk.PutRequest{Resource: "r{1}", Key: "a", Value: []byte("x\x00y"), Session: a, IfAbsent: true, WithRange: true})
	if err != nil || p1.CreateRev != 1 || len(p1.Entries) != 1 {
		t.Fatalf("put a: %+v %v", p1, err)
	}
	if _, err := s.Put(ctx, sdk.PutRequest{Resource: "r{1}", Key: "a", Session: b, IfAbsent: true}); !errors.Is(err, sdk.ErrExists) {
		t.Fatalf("put a again: %v, want ErrExists", err)
	}
	p2, err := s.Put(ctx, sdk.PutRequest{Resource: "r{1}", Key: "b", Session: b, WithRange: true})
	if err != nil || p2.CreateRev != 2 || len(p2.Entries) != 2 || string(p2.Entries[0].Value) != "x\x00y" {
		t.Fatalf("put b: %+v %v", p2, err)
	}
	if _, err := s.Update(ctx, sdk.UpdateRequest{Resource: "r{1}", Key: "a", Value: []byte("z"), ExpectRev: 2}); !errors.Is(err, sdk.ErrRevMismatch) {
		t.Fatalf("stale update: %v", err)
	}
	u, err := s.Update(ctx, sdk.UpdateRequest{Resource: "r{1}", Key: "a", Value: []byte("z"), ExpectRev: 1})
	if err != nil || u.ModRev != 3 {
		t.Fatalf("update: %+v %v", u, err)
	}
	if _, err := s.Delete(ctx, sdk.DeleteRequest{Resource: "r{1}", Key: "zz"}); !errors.Is(err, sdk.ErrNotFound) {
		t.Fatalf("delete missing: %v", err)
	}
	rs, err := s.Resources(ctx, "r")
	if err != nil || len(rs) != 1 || rs[0] != "r{1}" {
		t.Fatalf("resources: %v %v", rs, err)
	}
	if err := s.Revoke(ctx, a); err != nil {
		t.Fatal(err)
	}
	r, err := s.Range(ctx, "r{1}")
	if err != nil || len(r.Entries) != 1 || r.Entries[0].Key != "b" || r.Rev != 4 {
		t.Fatalf("range after revoke: %+v %v", r, err)
	}
	if _, err := s.KeepAlive(ctx, a); !errors.Is(err, sdk.ErrSessionExpired) {
		t.Fatalf("keepalive revoked: %v", err)
	}
	if _, err := s.Put(ctx, sdk.PutRequest{Resource: "r{1}", Key: "c", Session: a}); !errors.Is(err, sdk.ErrSessionExpired) {
		t.Fatalf("put revoked: %v", err)
	}

	var got []sdk.Event
	wctx, cancel := context.WithCancel(ctx)
	err = s.Watch(wctx, "r{1}", 1, func(ev sdk.Event) error {
		got = append(got, ev)
		if len(got) == 4 {
			cancel()
		}
		return nil
	})
	if !errors.Is(err, context.Canceled) || len(got) != 4 || got[3].Type != sdk.EventDelete || got[3].Entry.Key != "a" {
		t.Fatalf("watch: %v %+v", err, got)
	}
}

func TestExpiry(t *testing.T) {
	srv := redistest.Start(t)
	s := open(t, []string{srv.Addr}, nil)
	ctx := ctxT(t)
	a := mustSession(t, s, 200*time.Millisecond)
	if _, err := s.Put(ctx, sdk.PutRequest{Resource: "e", Key: "k", Session: a}); err != nil {
		t.Fatal(err)
	}
	deleted := make(chan sdk.Event, 1)
	wctx, cancel := context.WithCancel(ctx)
	defer cancel()
	go func() {
		_ = s.Watch(wctx, "e", 2, func(ev sdk.Event) error { deleted <- ev; return nil })
	}()
	select {
	case ev := <-deleted:
		if ev.Type != sdk.EventDelete || ev.Rev != 2 {
			t.Fatalf("event %+v", ev)
		}
	case <-time.After(3 * time.Second):
		t.Fatal("no delete event after the session expired")
	}
	if _, err := s.KeepAlive(ctx, a); !errors.Is(err, sdk.ErrSessionExpired) {
		t.Fatalf("keepalive: %v", err)
	}
}

// TestPutWithRangeValues: a put with range returns every entry's value,
// the caller's own (new or replaced) and the others', and leaves out the
// entries of a session that has ended, removing them first.
func TestPutWithRangeValues(t *testing.T) {
	srv := redistest.Start(t)
	s := open(t, []string{srv.Addr}, nil)
	ctx := ctxT(t)
	a := mustSession(t, s, 5*time.Second)
	b := mustSession(t, s, 5*time.Second)
	gone := mustSession(t, s, 5*time.Second)
	put := func(key, value, sess string) sdk.PutResult {
		t.Helper()
		p, err := s.Put(ctx, sdk.PutRequest{Resource: "v", Key: key, Value: []byte(value), Session: sess, WithRange: true})
		if err != nil {
			t.Fatalf("put %s: %v", key, err)
		}
		return p
	}
	values := func(es []sdk.Entry) string {
		var out []string
		for _, e := range es {
			out = append(out, e.Key+"="+string(e.Value))
		}
		return strings.Join(out, " ")
	}
	put("k1", "one", a)
	put("kx", "dead", gone)
	put("k2", "two", b)
	if p := put("k3", "three", a); values(p.Entries) != "k1=one kx=dead k2=two k3=three" {
		t.Fatalf("put k3: entries %s", values(p.Entries))
	}
	// The store's own client deletes the session key as an expiry would,
	// without Revoke clearing its entries.
	c, _ := s.conn()
	if err := c.rdb.Del(ctx, c.keys.session(gone)).Err(); err != nil {
		t.Fatal(err)
	}
	p := put("k2", "two'", b)
	if values(p.Entries) != "k1=one k2=two' k3=three" {
		t.Fatalf("replacing put of k2: entries %s, want the dead session's entry gone", values(p.Entries))
	}
	if p.CreateRev != 3 || p.ModRev != p.Rev || p.Entries[1].CreateRev != 3 || p.Entries[1].ModRev != p.ModRev {
		t.Fatalf("replacing put of k2: %+v", p)
	}
}

// TestHistoryTrim: the event log keeps at least the last `history`
// events, and at most a quarter more (it is trimmed lazily); a watch from
// the oldest kept event replays from there, one from before it gets
// ErrCompacted.
func TestHistoryTrim(t *testing.T) {
	srv := redistest.Start(t)
	const history = 8
	s := open(t, []string{srv.Addr}, sdk.Config{"history": history})
	ctx := ctxT(t)
	a := mustSession(t, s, 5*time.Second)
	c, _ := s.conn()
	logKey := c.keys.resource("h").log
	var last int64
	var n int64
	trimmed := false
	for i := 1; i <= 25; i++ {
		p, err := s.Put(ctx, sdk.PutRequest{Resource: "h", Key: "k", Value: []byte{byte(i)}, Session: a})
		if err != nil {
			t.Fatal(err)
		}
		last = p.ModRev
		n = c.rdb.LLen(ctx, logKey).Val()
		if n < int64(min(i, history)) || n > history+history/4 {
			t.Fatalf("after %d puts the log holds %d events, want from %d to %d", i, n, min(i, history), history+history/4)
		}
		trimmed = trimmed || n < int64(i)
	}
	if !trimmed {
		t.Fatal("25 puts and the log was never trimmed")
	}
	oldest := last - n + 1
	var got []int64
	wctx, cancel := context.WithCancel(ctx)
	err := s.Watch(wctx, "h", oldest, func(ev sdk.Event) error {
		if got = append(got, ev.Rev); int64(len(got)) == n {
			cancel()
		}
		return nil
	})
	if !errors.Is(err, context.Canceled) || int64(len(got)) != n || got[0] != oldest {
		t.Fatalf("watch from the oldest kept event %d: %v %v", oldest, got, err)
	}
	if err := s.Watch(ctx, "h", oldest-1, func(sdk.Event) error { return nil }); !errors.Is(err, sdk.ErrCompacted) {
		t.Fatalf("watch from before the kept events: %v, want ErrCompacted", err)
	}
}

// TestWatchAcrossRevisionGap: a Watch replays the log across a jump of
// the counter (as Repair makes when the counter lags), from before it and
// from within it.
func TestWatchAcrossRevisionGap(t *testing.T) {
	srv := redistest.Start(t)
	s := open(t, []string{srv.Addr}, nil)
	ctx := ctxT(t)
	a := mustSession(t, s, 5*time.Second)
	c, _ := s.conn()
	put := func() int64 {
		t.Helper()
		p, err := s.Put(ctx, sdk.PutRequest{Resource: "g", Key: "k", Session: a})
		if err != nil {
			t.Fatal(err)
		}
		return p.ModRev
	}
	var revs []int64
	for range 3 {
		revs = append(revs, put())
	}
	if err := c.rdb.IncrBy(ctx, c.keys.resource("g").rev, 10).Err(); err != nil {
		t.Fatal(err)
	}
	for range 3 {
		revs = append(revs, put())
	}
	if revs[3] != revs[2]+11 {
		t.Fatalf("revisions %v: want a jump of 11 after the third", revs)
	}
	for _, from := range []int64{1, revs[1], revs[2] + 1, revs[3]} {
		var want []int64
		for _, r := range revs {
			if r >= from {
				want = append(want, r)
			}
		}
		var got []int64
		wctx, cancel := context.WithCancel(ctx)
		err := s.Watch(wctx, "g", from, func(ev sdk.Event) error {
			if got = append(got, ev.Rev); len(got) == len(want) {
				cancel()
			}
			return nil
		})
		cancel()
		if !errors.Is(err, context.Canceled) || fmt.Sprint(got) != fmt.Sprint(want) {
			t.Fatalf("watch from %d: got %v (%v), want %v", from, got, err, want)
		}
	}
}
