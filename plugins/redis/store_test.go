package redis

import (
	"context"
	"errors"
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
