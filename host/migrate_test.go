package host

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/locksmithx/locksmith/internal/redistest"
)

func TestMigrateToAnotherBackend(t *testing.T) {
	srv := redistest.Start(t)
	dir := t.TempDir()
	h := newHostFrom(t, fileAndRedis(dir, srv.Addr, "move", "file"))
	onFile := newHostFrom(t, testConfig(dir))
	onRedis := newHostFrom(t, redisConfig(srv.Addr, "move"))
	ctx := testCtx(t)
	events, stop := h.Subscribe(64)
	defer stop()

	// Give Redis's counter for the resource a head start, so that its
	// token differs from the file backend's.
	for i := 0; i < 3; i++ {
		l, err := onRedis.Named(ctx, "db")
		if err != nil {
			t.Fatal(err)
		}
		_ = l.Release(ctx)
	}
	l, err := h.Named(ctx, "db")
	if err != nil {
		t.Fatal(err)
	}
	lctx := l.Context()
	fileToken := l.Token()
	if err := l.Migrate(ctx, Target{Backend: "redis"}); err != nil {
		t.Fatal(err)
	}
	if lctx.Err() != nil || l.Context() != lctx || l.Lost() != nil {
		t.Fatalf("lease context after the move: %v", lctx.Err())
	}
	st, err := onRedis.Status(ctx, "db")
	if err != nil || len(st.Holders) != 1 || st.Holders[0].Token != l.Token() || l.Token() == fileToken {
		t.Fatalf("redis queue %+v, %v; want the lease, with its new token %d (file's was %d)", st, err, l.Token(), fileToken)
	}
	if l.Backend() != "redis" || l.Session() != st.Holders[0].Session {
		t.Fatalf("lease says backend %s, session %s", l.Backend(), l.Session())
	}
	if ev := nextEvent(t, events, EventMigrated); ev.Token != l.Token() || ev.Plugin != "redis" {
		t.Fatalf("migrated event %+v", ev)
	}
	// The file lock is free, the Redis one held.
	got, err := onFile.Named(ctx, "db", NoWait())
	if err != nil {
		t.Fatalf("file lock after the move: %v", err)
	}
	_ = got.Release(ctx)
	if _, err := onRedis.Named(ctx, "db", NoWait()); !errors.Is(err, ErrConflict) {
		t.Fatalf("redis lock after the move: %v, want ErrConflict", err)
	}
	if err := l.Release(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := onRedis.Named(ctx, "db", NoWait()); err != nil {
		t.Fatalf("redis lock after release: %v", err)
	}
}

// A file renamed while locked: the lock moves to the new name.
func TestMigrateToAnotherResource(t *testing.T) {
	dir := t.TempDir()
	h := newTestHost(t, dir)
	other := newTestHost(t, dir)
	ctx := testCtx(t)
	l, err := h.Named(ctx, "report.tmp")
	if err != nil {
		t.Fatal(err)
	}
	before := l.Token()
	target, _ := NamedResource("report")
	if err := l.Migrate(ctx, Target{Resource: target}); err != nil {
		t.Fatal(err)
	}
	if l.Resource() != target || l.Context().Err() != nil {
		t.Fatalf("lease on %s, ctx %v", l.Resource(), l.Context().Err())
	}
	if _, err := other.Named(ctx, "report", NoWait()); !errors.Is(err, ErrConflict) {
		t.Fatalf("new name after the move: %v, want ErrConflict", err)
	}
	free, err := other.Named(ctx, "report.tmp", NoWait())
	if err != nil {
		t.Fatalf("old name after the move: %v", err)
	}
	_ = free.Release(ctx)
	if l.Token() == 0 || before == 0 {
		t.Fatalf("tokens %d then %d", before, l.Token())
	}
	if err := l.Release(ctx); err != nil {
		t.Fatal(err)
	}
}

func TestMigrateKeepsSourceWhenTargetUnavailable(t *testing.T) {
	srv := redistest.Start(t)
	dir := t.TempDir()
	h := newHostFrom(t, fileAndRedis(dir, srv.Addr, "down", "file"))
	other := newHostFrom(t, testConfig(dir))
	ctx := testCtx(t)
	l, err := h.Named(ctx, "db")
	if err != nil {
		t.Fatal(err)
	}
	token := l.Token()
	srv.Kill()
	mctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	err = l.Migrate(mctx, Target{Backend: "redis"})
	if err == nil || !strings.Contains(err.Error(), "stays held") {
		t.Fatalf("migrate to a dead Redis: %v; want an error saying the source stays held", err)
	}
	if !errors.Is(err, ErrBackendUnavailable) && !errors.Is(err, ErrTimeout) {
		t.Fatalf("migrate to a dead Redis: %v; want ErrBackendUnavailable or ErrTimeout", err)
	}
	if l.Lost() != nil || l.Context().Err() != nil || l.Backend() != "file" || l.Token() != token {
		t.Fatalf("source lease after the failed move: lost %v, backend %s, token %d", l.Lost(), l.Backend(), l.Token())
	}
	if _, err := other.Named(ctx, "db", NoWait()); !errors.Is(err, ErrConflict) {
		t.Fatalf("file lock after the failed move: %v, want ErrConflict (still held)", err)
	}
	if err := l.Release(ctx); err != nil {
		t.Fatal(err)
	}
}

func TestMigrateWaitsForTargetAndKeepsSourceOnTimeout(t *testing.T) {
	srv := redistest.Start(t)
	dir := t.TempDir()
	h := newHostFrom(t, fileAndRedis(dir, srv.Addr, "busy", "file"))
	onRedis := newHostFrom(t, redisConfig(srv.Addr, "busy"))
	ctx := testCtx(t)
	blocker, err := onRedis.Named(ctx, "db")
	if err != nil {
		t.Fatal(err)
	}
	l, err := h.Named(ctx, "db")
	if err != nil {
		t.Fatal(err)
	}
	mctx, cancel := context.WithTimeout(ctx, 300*time.Millisecond)
	defer cancel()
	if err := l.Migrate(mctx, Target{Backend: "redis"}); !errors.Is(err, ErrTimeout) {
		t.Fatalf("migrate to a held lock: %v, want ErrTimeout", err)
	}
	if l.Backend() != "file" || l.Lost() != nil {
		t.Fatalf("after the timed-out move: backend %s, lost %v", l.Backend(), l.Lost())
	}
	if st, _ := onRedis.Status(ctx, "db"); len(st.Waiters) != 0 {
		t.Fatalf("the timed-out move left a waiter on redis: %+v", st.Waiters)
	}
	// Once the target is free, the move waits for it and succeeds.
	done := make(chan error, 1)
	go func() { done <- l.Migrate(ctx, Target{Backend: "redis"}) }()
	waitFor(t, func() bool { st, _ := onRedis.Status(ctx, "db"); return len(st.Waiters) == 1 })
	if err := blocker.Release(ctx); err != nil {
		t.Fatal(err)
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if l.Backend() != "redis" {
		t.Fatalf("lease on %s after the move", l.Backend())
	}
	_ = l.Release(ctx)
}
