package host

import (
	"errors"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/locksmithx/locksmith/config"
	"github.com/locksmithx/locksmith/internal/redistest"
)

// nextEvent returns the next event of kind on ch, failing after 10 s.
func nextEvent(t *testing.T, ch <-chan Event, kind EventKind) Event {
	t.Helper()
	timeout := time.After(10 * time.Second)
	for {
		select {
		case ev := <-ch:
			if ev.Kind == kind {
				return ev
			}
		case <-timeout:
			t.Fatalf("no %s event within 10s", kind)
		}
	}
}

func TestUpdateConfigSwapsAndPinsLeases(t *testing.T) {
	srv := redistest.Start(t)
	dir := t.TempDir()
	fileOnly := testConfig(dir)
	toRedis := fileAndRedis(dir, srv.Addr, "swap", "redis")
	toRedis.Backends = nil // file leaves the config

	h := newHostFrom(t, fileOnly)
	ctx := testCtx(t)
	events, stop := h.Subscribe(64)
	defer stop()
	held, err := h.Named(ctx, "job")
	if err != nil {
		t.Fatal(err)
	}
	if err := h.UpdateConfig(ctx, toRedis); err != nil {
		t.Fatal(err)
	}
	if ev := nextEvent(t, events, EventConfigSwapped); ev.Plugin != "redis" {
		t.Fatalf("swap event names %q, want redis", ev.Plugin)
	}
	if h.BackendName() != "redis" || h.Config().Backend != "redis" {
		t.Fatalf("default after the swap: %s", h.BackendName())
	}
	// The held lease stays on file, alive; the file backend drains.
	if held.Backend() != "file" || held.Context().Err() != nil {
		t.Fatalf("held lease: backend %s, ctx %v", held.Backend(), held.Context().Err())
	}
	roles := map[string]PluginStatus{}
	for _, p := range h.Plugins(ctx) {
		if p.Role != "" {
			roles[p.Name] = p
		}
	}
	if roles["redis"].Role != RoleDefault || roles["file"].Role != RoleDraining || roles["file"].Leases != 1 {
		t.Fatalf("plugins after the swap: %+v", roles)
	}
	if got := h.Backends(); !slices.Equal(got, []string{"redis", "file"}) {
		t.Fatalf("backends while file drains: %v", got)
	}
	if st, err := h.Status(UsingBackend(ctx, "file"), "job"); err != nil || len(st.Holders) != 1 || st.Holders[0].Token != held.Token() {
		t.Fatalf("status on the draining backend: %+v, %v", st, err)
	}
	// While it drains, a request on the new default also locks the old
	// one, so the resource is not granted twice.
	if _, err := h.Named(ctx, "job", NoWait()); !errors.Is(err, ErrConflict) {
		t.Fatalf("lock while held on the draining backend: %v, want ErrConflict", err)
	}
	other, err := h.Named(ctx, "other")
	if err != nil {
		t.Fatal(err)
	}
	if other.Backend() != "redis" || strings.Join(other.Bridges(), ",") != "file" {
		t.Fatalf("lease during the drain: backend %s, bridges %v; want redis bridged by file", other.Backend(), other.Bridges())
	}
	filePID := h.Health(ctx).Backends[1].PID
	for _, l := range []*Lease{other, held} {
		if err := l.Release(ctx); err != nil {
			t.Fatal(err)
		}
	}
	// Its last lease gone, the old backend stops, and requests go to
	// Redis alone.
	waitFor(t, func() bool { return len(h.Health(ctx).Backends) == 1 })
	waitFor(t, func() bool { return !pidAlive(filePID) })
	l, err := h.Named(ctx, "job", NoWait())
	if err != nil || l.Backend() != "redis" || len(l.Bridges()) != 0 {
		t.Fatalf("lock after the drain: %v; want redis alone", err)
	}
	_ = l.Release(ctx)
}

func TestUpdateConfigKeepsUnchangedPlugins(t *testing.T) {
	srv := redistest.Start(t)
	dir := t.TempDir()
	cfg := fileAndRedis(dir, srv.Addr, "keep", "file")
	h := newHostFrom(t, cfg)
	ctx := testCtx(t)
	before := pids(t, h)
	next := fileAndRedis(dir, srv.Addr, "keep", "redis")
	next.Log.Level = "debug"
	if err := h.UpdateConfig(ctx, next); err != nil {
		t.Fatal(err)
	}
	if after := pids(t, h); after["file"] != before["file"] || after["redis"] != before["redis"] {
		t.Fatalf("plugins restarted by a swap that did not change them: %v then %v", before, after)
	}
	// A changed plugin config starts a new process for that plugin only.
	changed := fileAndRedis(dir, srv.Addr, "keep2", "redis")
	if err := h.UpdateConfig(ctx, changed); err != nil {
		t.Fatal(err)
	}
	if after := pids(t, h); after["file"] != before["file"] || after["redis"] == before["redis"] {
		t.Fatalf("after a redis config change: %v then %v; want redis alone restarted", before, after)
	}
}

func TestUpdateConfigRefusesBadConfig(t *testing.T) {
	srv := redistest.Start(t)
	dir := t.TempDir()
	h := newHostFrom(t, fileAndRedis(dir, srv.Addr, "bad", "file"))
	ctx := testCtx(t)
	events, stop := h.Subscribe(64)
	defer stop()
	held, err := h.Named(ctx, "job")
	if err != nil {
		t.Fatal(err)
	}
	before := pids(t, h)

	invalid := fileAndRedis(dir, srv.Addr, "bad", "redis")
	invalid.Lease.TTL = time.Millisecond
	missing := fileAndRedis(dir, srv.Addr, "bad", "redis")
	missing.Plugins["redis"] = config.Plugin{Path: "/nonexistent/locksmith-plugin-redis"}
	unreachable := fileAndRedis(dir, "127.0.0.1:1", "bad", "redis")
	for _, tc := range []struct {
		name string
		cfg  config.Config
		want string
		is   error
	}{
		{"invalid", invalid, "lease.ttl", ErrInvalidConfig},
		{"missing plugin", missing, "/nonexistent/locksmith-plugin-redis", nil},
		{"unreachable store", unreachable, "127.0.0.1:1", ErrBackendUnavailable},
	} {
		err := h.UpdateConfig(ctx, tc.cfg)
		if err == nil || !strings.Contains(err.Error(), tc.want) || (tc.is != nil && !errors.Is(err, tc.is)) {
			t.Fatalf("%s: UpdateConfig = %v; want an error saying %q", tc.name, err, tc.want)
		}
		if ev := nextEvent(t, events, EventConfigRefused); ev.Err == nil {
			t.Fatalf("%s: refusal event without its error", tc.name)
		}
		if h.BackendName() != "file" {
			t.Fatalf("%s: the default changed to %s", tc.name, h.BackendName())
		}
	}
	if after := pids(t, h); after["file"] != before["file"] || after["redis"] != before["redis"] {
		t.Fatalf("refused configs restarted plugins: %v then %v", before, after)
	}
	// The old pipeline keeps serving, and the held lease is untouched.
	if held.Lost() != nil || held.Context().Err() != nil {
		t.Fatalf("held lease after refused configs: %v", held.Lost())
	}
	l, err := h.Named(ctx, "other", NoWait())
	if err != nil || l.Backend() != "file" {
		t.Fatalf("lock after refused configs: %v", err)
	}
}

func TestConfigRedactsSecrets(t *testing.T) {
	cfg := testConfig(t.TempDir())
	cfg.Server.Tokens = []config.Token{{Principal: "ops", Token: strings.Repeat("f", 32)}}
	h := newHostFrom(t, cfg)
	got := h.Config()
	if got.Server.Tokens[0].Token != config.Redacted || got.Server.Tokens[0].Principal != "ops" {
		t.Fatalf("Config shows secrets: %+v", got)
	}
}

// pids maps each backend the host runs to its plugin's process id.
func pids(t *testing.T, h *Host) map[string]int {
	out := map[string]int{}
	for _, b := range h.Health(testCtx(t)).Backends {
		out[b.Name] = b.PID
	}
	return out
}

// pidAlive reports whether process pid exists.
func pidAlive(pid int) bool { return pid > 0 && syscall.Kill(pid, 0) == nil }
