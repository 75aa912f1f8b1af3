package host

import (
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/locksmithx/locksmith/internal/redistest"
)

// In migration mode a lock is taken on both backends: a host still on the
// old backend and a host already on the new one both see it held, and
// the lease reports the new backend's token.
func TestMigrationModeLocksBoth(t *testing.T) {
	srv := redistest.Start(t)
	dir := t.TempDir()
	old := fileAndRedis(dir, srv.Addr, "mig", "file")
	old.Backends = nil
	mig := fileAndRedis(dir, srv.Addr, "mig", "redis")
	mig.Backends, mig.MigrateFrom = nil, "file"
	next := fileAndRedis(dir, srv.Addr, "mig", "redis")
	next.Backends = nil

	hOld, hMig, hNew := newHostFrom(t, old), newHostFrom(t, mig), newHostFrom(t, next)
	ctx := testCtx(t)
	l, err := hMig.Named(ctx, "deploy")
	if err != nil {
		t.Fatal(err)
	}
	if l.Backend() != "redis" || !slices.Equal(l.Bridges(), []string{"file"}) {
		t.Fatalf("migration lease on %s bridged by %v; want redis bridged by file", l.Backend(), l.Bridges())
	}
	if _, err := hNew.Named(ctx, "deploy", NoWait()); !errors.Is(err, ErrConflict) {
		t.Fatalf("new-config host: %v, want ErrConflict", err)
	}
	if _, err := hOld.Named(ctx, "deploy", NoWait()); !errors.Is(err, ErrConflict) {
		t.Fatalf("old-config host: %v, want ErrConflict", err)
	}
	rs, err := hNew.Status(ctx, "deploy")
	if err != nil || len(rs.Holders) != 1 || rs.Holders[0].Token != l.Token() {
		t.Fatalf("redis holder %+v, %v; want the lease's token %d", rs, err, l.Token())
	}
	if err := l.Release(ctx); err != nil {
		t.Fatal(err)
	}
	for _, h := range []*Host{hOld, hNew} {
		got, err := h.Named(ctx, "deploy", NoWait())
		if err != nil {
			t.Fatalf("%s host after release: %v", h.BackendName(), err)
		}
		_ = got.Release(ctx)
	}
	// A lock the old host holds keeps the migrating host waiting.
	held, err := hOld.Named(ctx, "deploy")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := hMig.Named(ctx, "deploy", NoWait()); !errors.Is(err, ErrConflict) {
		t.Fatalf("migrating host while the old one holds: %v, want ErrConflict", err)
	}
	// The failed request left nothing behind on the new backend.
	if rs, _ := hNew.Status(ctx, "deploy"); len(rs.Holders)+len(rs.Waiters) != 0 {
		t.Fatalf("redis queue after a refused migration request: %+v", rs)
	}
	_ = held.Release(ctx)
}

// A lease that loses its lock on one backend is lost as a whole, and what
// it still held elsewhere is let go, so that it blocks no one.
func TestBridgeLossEndsTheLease(t *testing.T) {
	srv := redistest.Start(t)
	dir := t.TempDir()
	cfg := fileAndRedis(dir, srv.Addr, "bridge", "file")
	cfg.Backends, cfg.MigrateFrom = nil, "redis"
	h := newHostFrom(t, cfg)
	other := newHostFrom(t, testConfig(dir))
	ctx := testCtx(t)
	l, err := h.Named(ctx, "job")
	if err != nil {
		t.Fatal(err)
	}
	if l.Backend() != "file" || !slices.Equal(l.Bridges(), []string{"redis"}) {
		t.Fatalf("lease on %s bridged by %v", l.Backend(), l.Bridges())
	}
	srv.Kill()
	select {
	case <-l.Done():
	case <-time.After(15 * time.Second):
		t.Fatal("the lease outlived its Redis lock by 15s")
	}
	if err := l.Lost(); !errors.Is(err, ErrLost) || !strings.Contains(err.Error(), "backend redis") {
		t.Fatalf("Lost() = %v; want ErrLost naming the redis lock", err)
	}
	waitFor(t, func() bool {
		got, err := other.Named(ctx, "job", NoWait())
		if err == nil {
			_ = got.Release(ctx)
		}
		return err == nil
	})
}
