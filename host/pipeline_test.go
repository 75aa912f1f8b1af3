package host

import (
	"context"
	"errors"
	"testing"

	"github.com/locksmithx/locksmith/config"
	"github.com/locksmithx/locksmith/internal/redistest"
)

// fileAndRedis is a config running the file backend (state under dir) and
// Redis at addr (keys under prefix), def the default.
func fileAndRedis(dir, addr, prefix, def string) config.Config {
	cfg := testConfig(dir)
	cfg.Plugins["redis"] = redisConfig(addr, prefix).Plugins["redis"]
	cfg.Backend = def
	cfg.Backends = []string{"file", "redis"}
	return cfg
}

func TestSeveralBackends(t *testing.T) {
	srv := redistest.Start(t)
	dir := t.TempDir()
	h := newHostFrom(t, fileAndRedis(dir, srv.Addr, "multi", "file"))
	ctx := testCtx(t)

	onFile, err := h.Named(ctx, "job")
	if err != nil {
		t.Fatal(err)
	}
	// The same name on another backend is another lock.
	onRedis, err := h.Named(ctx, "job", WithBackend("redis"), NoWait())
	if err != nil {
		t.Fatalf("lock on redis while held on file: %v", err)
	}
	if onFile.Backend() != "file" || onRedis.Backend() != "redis" {
		t.Fatalf("backends %q and %q, want file and redis", onFile.Backend(), onRedis.Backend())
	}
	if onFile.Session() == onRedis.Session() {
		t.Fatal("two backends share a session")
	}

	// The Redis lock is a real one: a host running only Redis sees it.
	other := newHostFrom(t, redisConfig(srv.Addr, "multi"))
	if _, err := other.Named(ctx, "job", NoWait()); !errors.Is(err, ErrConflict) {
		t.Fatalf("other host on redis: %v, want ErrConflict", err)
	}

	// Reads go to the backend the context names.
	st, err := h.Status(UsingBackend(ctx, "redis"), "job")
	if err != nil || len(st.Holders) != 1 || st.Holders[0].Session != onRedis.Session() {
		t.Fatalf("redis status %+v, %v; want the redis lease", st, err)
	}
	st, err = h.Status(ctx, "job")
	if err != nil || len(st.Holders) != 1 || st.Holders[0].Session != onFile.Session() {
		t.Fatalf("default status %+v, %v; want the file lease", st, err)
	}

	hl := h.Health(ctx)
	if len(hl.Backends) != 2 {
		t.Fatalf("health lists %d backends, want 2: %+v", len(hl.Backends), hl.Backends)
	}
	for _, b := range hl.Backends {
		if !b.Healthy || b.Session == nil || b.Leases != 1 {
			t.Fatalf("backend %s: %+v; want healthy, a session and one lease", b.Name, b)
		}
	}
	if hl.Backends[0].Name != "file" || hl.Backends[0].Role != RoleDefault || hl.Backends[1].Role != RoleNamed {
		t.Fatalf("roles %+v", hl.Backends)
	}
	roles := map[string]string{}
	for _, p := range h.Plugins(ctx) {
		roles[p.Name] = p.Role
	}
	if roles["file"] != RoleDefault || roles["redis"] != RoleNamed {
		t.Fatalf("plugin roles %v", roles)
	}

	if _, err := h.Named(ctx, "job", WithBackend("consul")); !errors.Is(err, ErrInvalidArgument) {
		t.Fatalf("lock on a backend not running: %v, want ErrInvalidArgument", err)
	}
	if _, err := h.Status(UsingBackend(ctx, "consul"), "job"); !errors.Is(err, ErrInvalidArgument) {
		t.Fatalf("status on a backend not running: %v, want ErrInvalidArgument", err)
	}
	for _, l := range []*Lease{onFile, onRedis} {
		if err := l.Release(ctx); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := other.Named(ctx, "job", NoWait()); err != nil {
		t.Fatalf("redis lock after release: %v", err)
	}
}

// A hierarchical lock on a named backend takes its intention locks there.
func TestHierarchicalOnNamedBackend(t *testing.T) {
	srv := redistest.Start(t)
	h := newHostFrom(t, fileAndRedis(t.TempDir(), srv.Addr, "hier", "file"))
	ctx := testCtx(t)
	l, err := h.Hierarchical(ctx, "a/b", WithBackend("redis"))
	if err != nil {
		t.Fatal(err)
	}
	st, err := h.Status(UsingBackend(ctx, "redis"), "a")
	if err != nil || len(st.Holders) != 1 || st.Holders[0].Mode != IntentExclusive.String() {
		t.Fatalf("redis status of a: %+v, %v; want one IX holder", st, err)
	}
	if st, _ := h.Status(ctx, "a"); len(st.Holders) != 0 {
		t.Fatalf("file status of a: %+v; want nothing", st)
	}
	if err := l.Release(context.Background()); err != nil {
		t.Fatal(err)
	}
}
