package host

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/locksmithx/locksmith/config"
	"github.com/locksmithx/locksmith/internal/consultest"
	"github.com/locksmithx/locksmith/internal/redistest"
)

// killPlugin kills h's backend plugin process with SIGKILL and returns the
// generation it killed.
func killPlugin(t *testing.T, h *Host) *generation {
	t.Helper()
	g, err := h.defaultSlot().sup.get(testCtx(t))
	if err != nil {
		t.Fatal(err)
	}
	pid := g.conn.Pid()
	if pid <= 0 {
		t.Fatalf("plugin pid %d", pid)
	}
	if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
		t.Fatalf("kill -9 plugin %d: %v", pid, err)
	}
	return g
}

// adopted waits until h's session is served by a generation other than
// old, checking check on every round, and returns how long it waited; it
// fails the test after 15s.
func adopted(t *testing.T, h *Host, old *generation, check func()) time.Duration {
	t.Helper()
	start := time.Now()
	h.mu.Lock()
	s := h.defaultSlot().liveSession()
	h.mu.Unlock()
	deadline := time.Now().Add(15 * time.Second)
	for s.current() == old {
		check()
		if time.Now().After(deadline) {
			t.Fatal("the session was not adopted by a restarted plugin within 15s")
		}
		time.Sleep(time.Millisecond)
	}
	return time.Since(start)
}

// TestLeaseSurvivesPluginCrash: kill -9 of the plugin serving a lease
// costs a restart, not the lease: another host cannot take the lock at any
// moment, the lease's context is never cancelled, renewal goes on past the
// TTL on the restarted plugin, the lease releases normally, and the next
// holder's fencing token is higher.
func TestLeaseSurvivesPluginCrash(t *testing.T) {
	t.Run("file", func(t *testing.T) {
		dir := t.TempDir()
		testLeaseSurvivesPluginCrash(t, testConfig(dir))
	})
	t.Run("redis", func(t *testing.T) {
		redistest.Require(t)
		srv := redistest.Start(t)
		testLeaseSurvivesPluginCrash(t, redisConfig(srv.Addr, "adopt:"))
	})
	t.Run("consul", func(t *testing.T) {
		agent := consultest.StartDev(t)
		testLeaseSurvivesPluginCrash(t, consulConfig(agent.Addr, "adopt/"))
	})
}

func testLeaseSurvivesPluginCrash(t *testing.T, cfg config.Config) {
	ctx := testCtx(t)
	h1, h2 := newHostFrom(t, cfg), newHostFrom(t, cfg)
	l, err := h1.Named(ctx, "crash")
	if err != nil {
		t.Fatal(err)
	}
	tryOther := func() {
		t.Helper()
		if l2, err := h2.Named(ctx, "crash", NoWait()); !errors.Is(err, ErrConflict) {
			if l2 != nil {
				_ = l2.Release(ctx)
			}
			t.Fatalf("another host's try-lock during the crash: %v, want ErrConflict", err)
		}
		if err := l.Context().Err(); err != nil {
			t.Fatalf("lease context ended: %v (%v)", err, l.Lost())
		}
	}
	old := killPlugin(t, h1)
	t.Logf("session adopted by the restarted plugin %v after kill -9", adopted(t, h1, old, tryOther).Round(time.Millisecond))
	// Keep checking for longer than a TTL: the adopted session is renewed
	// on the new plugin, or it would expire in the store.
	until := time.Now().Add(cfg.Lease.TTL + cfg.Lease.TTL/2)
	for time.Now().Before(until) {
		tryOther()
		time.Sleep(20 * time.Millisecond)
	}
	if err := l.Lost(); err != nil {
		t.Fatalf("lease lost: %v", err)
	}
	if err := l.Release(ctx); err != nil {
		t.Fatalf("release after the crash: %v", err)
	}
	l2, err := h2.Named(ctx, "crash", NoWait())
	if err != nil {
		t.Fatalf("lock after the release: %v", err)
	}
	defer l2.Release(ctx)
	if l2.Token() <= l.Token() {
		t.Fatalf("next token %d, want above %d", l2.Token(), l.Token())
	}
}

// TestWaiterSurvivesPluginCrash: a waiter whose plugin is killed keeps its
// place in the queue and is granted in order.
func TestWaiterSurvivesPluginCrash(t *testing.T) {
	dir := t.TempDir()
	ctx := testCtx(t)
	cfg := testConfig(dir)
	h1, h2, h3 := newHostFrom(t, cfg), newHostFrom(t, cfg), newHostFrom(t, cfg)
	l1, err := h1.Named(ctx, "queue")
	if err != nil {
		t.Fatal(err)
	}
	type result struct {
		l   *Lease
		err error
	}
	second, third := make(chan result, 1), make(chan result, 1)
	go func() { l, err := h2.Named(ctx, "queue"); second <- result{l, err} }()
	waitQueued(t, h1, "queue", 2)
	go func() { l, err := h3.Named(ctx, "queue"); third <- result{l, err} }()
	waitQueued(t, h1, "queue", 3)

	old := killPlugin(t, h2)
	adopted(t, h2, old, func() {})
	if err := l1.Release(ctx); err != nil {
		t.Fatal(err)
	}
	var r result
	select {
	case r = <-second:
	case r = <-third:
		t.Fatalf("the third request was granted before the second: %v", r.err)
	case <-ctx.Done():
		t.Fatal("the waiter whose plugin crashed was never granted")
	}
	if r.err != nil {
		t.Fatalf("waiter whose plugin crashed: %v", r.err)
	}
	if r.l.Token() <= l1.Token() {
		t.Fatalf("token %d, want above %d", r.l.Token(), l1.Token())
	}
	if err := r.l.Release(ctx); err != nil {
		t.Fatal(err)
	}
	r3 := <-third
	if r3.err != nil {
		t.Fatal(r3.err)
	}
	_ = r3.l.Release(ctx)
}

// waitQueued waits until resource's queue holds n requests.
func waitQueued(t *testing.T, h *Host, resource string, n int) {
	t.Helper()
	ctx := testCtx(t)
	be, _, err := h.Backend(ctx)
	if err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		r, err := be.Range(ctx, resource)
		if err != nil {
			t.Fatal(err)
		}
		if len(r.Entries) >= n {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("queue of %s has %d requests, want %d", resource, len(r.Entries), n)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// TestPluginCrashWithoutAdoptionLosesAtOnce: on a backend that cannot adopt
// sessions (the in-memory example), a plugin crash loses the lease at once,
// with the cause, not at the end of its TTL.
func TestPluginCrashWithoutAdoptionLosesAtOnce(t *testing.T) {
	cfg := config.Default()
	cfg.Backend = "memory"
	cfg.Lease.TTL = time.Minute
	cfg.Plugins["memory"] = config.Plugin{Path: memoryPlugin}
	h := newHostFrom(t, cfg)
	ctx := testCtx(t)
	lost := make(chan error, 1)
	l, err := h.Named(ctx, "gone", OnLost(func(err error) { lost <- err }))
	if err != nil {
		t.Fatal(err)
	}
	killPlugin(t, h)
	select {
	case err := <-lost:
		if !errors.Is(err, ErrLost) || !errors.Is(err, ErrBackendUnavailable) {
			t.Fatalf("lost with %v, want ErrLost and ErrBackendUnavailable", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("lease not lost 10s after its plugin was killed (TTL 1m)")
	}
	if !errors.Is(l.Lost(), ErrLost) {
		t.Fatalf("Lost() = %v", l.Lost())
	}
}

// TestFailedAdoptionKeepsLockThroughGrace: when the restarted plugin comes
// back too late to adopt the session, the lease is lost with the cause,
// and no other host can take the lock while the lost session's anchor is
// held (the grace in which a holder stops its work).
func TestFailedAdoptionKeepsLockThroughGrace(t *testing.T) {
	dir := t.TempDir()
	cfg := testConfig(dir)
	cfg.Lease.TTL = 2 * time.Second
	// Every start after the first takes 3s: longer than the 2/3 TTL the
	// host waits for adoption.
	script := filepath.Join(dir, "slow-restart")
	marker := filepath.Join(dir, "started")
	body := fmt.Sprintf("#!/bin/sh\nif [ -e %q ]; then sleep 3; fi\ntouch %q\nexec %q \"$@\"\n", marker, marker, filePlugin)
	if err := os.WriteFile(script, []byte(body), 0o755); err != nil {
		t.Fatal(err)
	}
	slow := cfg
	slow.Plugins = map[string]config.Plugin{"file": {Path: script, Config: cfg.Plugins["file"].Config}}
	h1, h2 := newHostFrom(t, slow), newHostFrom(t, cfg)
	ctx := testCtx(t)
	l, err := h1.Named(ctx, "late")
	if err != nil {
		t.Fatal(err)
	}
	h1.mu.Lock()
	s := h1.defaultSlot().liveSession()
	h1.mu.Unlock()
	killPlugin(t, h1)
	deadline := time.Now().Add(15 * time.Second)
	for {
		l2, err := h2.Named(ctx, "late", NoWait())
		granted := time.Now() // the grant came before this
		if err == nil {
			s.mu.Lock()
			dropped, lostAt, grace := s.dropped, s.lostAt, s.ttl/3
			s.mu.Unlock()
			if !dropped {
				t.Fatal("another host took the lock while the lost session's anchor was held")
			}
			if lostAt.IsZero() || granted.Before(lostAt.Add(grace)) {
				t.Fatalf("another host took the lock %v after the session was lost, within the grace of %v",
					granted.Sub(lostAt).Round(time.Millisecond), grace)
			}
			t.Logf("another host took the lock %v after the session was lost (grace %v)", granted.Sub(lostAt).Round(time.Millisecond), grace)
			_ = l2.Release(ctx)
			break
		}
		if !errors.Is(err, ErrConflict) {
			t.Fatal(err)
		}
		if time.Now().After(deadline) {
			t.Fatal("the lock never passed on after the failed adoption")
		}
		time.Sleep(10 * time.Millisecond)
	}
	err = l.Lost()
	if !errors.Is(err, ErrLost) || !errors.Is(err, ErrBackendUnavailable) {
		t.Fatalf("Lost() = %v, want ErrLost and ErrBackendUnavailable", err)
	}
	t.Logf("lost: %v", err)
}

// TestWaiterOfLostSessionReportsErrLost: a waiter whose session is lost is
// told so (ErrLost with the cause), not just that its wait ended.
func TestWaiterOfLostSessionReportsErrLost(t *testing.T) {
	cfg := config.Default()
	cfg.Backend = "memory"
	cfg.Lease.TTL = time.Minute
	cfg.Plugins["memory"] = config.Plugin{Path: memoryPlugin}
	h := newHostFrom(t, cfg)
	ctx := testCtx(t)
	l, err := h.Named(ctx, "w")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Release(ctx)
	waited := make(chan error, 1)
	go func() {
		_, err := h.Named(ctx, "w", WithOwner(NewOwner("second")))
		waited <- err
	}()
	waitQueued(t, h, "w", 2)
	killPlugin(t, h)
	select {
	case err := <-waited:
		if !errors.Is(err, ErrLost) || !errors.Is(err, ErrBackendUnavailable) {
			t.Fatalf("waiter: %v, want ErrLost and ErrBackendUnavailable", err)
		}
	case <-ctx.Done():
		t.Fatal("waiter still waiting after its session was lost")
	}
}

// TestLaunchRefusesNonPlugins: a program that is not a plugin is refused
// within a few seconds with one line wrapping ErrPluginBroken; a plugin of
// the wrong kind is refused by kind.
func TestLaunchRefusesNonPlugins(t *testing.T) {
	dir := t.TempDir()
	hang := filepath.Join(dir, "hang")
	if err := os.WriteFile(hang, []byte("#!/bin/sh\nexec sleep 1000\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name, path string
	}{{"exits", "/bin/true"}, {"hangs", hang}} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := testConfig(dir)
			cfg.Plugins["file"] = config.Plugin{Path: tc.path}
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			start := time.Now()
			h, err := New(ctx, cfg)
			if err == nil {
				h.Close()
				t.Fatal("host started on a program that is not a plugin")
			}
			t.Logf("refused after %v: %v", time.Since(start).Round(time.Millisecond), err)
			if !errors.Is(err, ErrPluginBroken) {
				t.Fatalf("error %v does not wrap ErrPluginBroken", err)
			}
			if msg := err.Error(); strings.Contains(msg, "\n") {
				t.Fatalf("error has several lines: %q", msg)
			}
		})
	}
	t.Run("middleware as backend", func(t *testing.T) {
		cfg := testConfig(dir)
		cfg.Plugins["file"] = config.Plugin{Path: auditPlugin}
		_, err := New(testCtx(t), cfg)
		if !errors.Is(err, ErrInvalidConfig) {
			t.Fatalf("middleware as backend: %v, want ErrInvalidConfig", err)
		}
		t.Log(err)
	})
	t.Run("backend as middleware", func(t *testing.T) {
		cfg := testConfig(dir)
		cfg.Plugins["mw"] = config.Plugin{Path: filePlugin}
		cfg.Middleware = []string{"mw"}
		_, err := New(testCtx(t), cfg)
		if !errors.Is(err, ErrInvalidConfig) {
			t.Fatalf("backend as middleware: %v, want ErrInvalidConfig", err)
		}
		t.Log(err)
	})
}
