package host

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/locksmithx/locksmith/config"
	"github.com/locksmithx/locksmith/hooks"
	"github.com/locksmithx/locksmith/plugins/audit"
	"github.com/locksmithx/locksmith/sdk"
)

// rbacAuditConfig is a file-backend config with [rbac, audit] in front:
// the OS user may acquire, release and inspect jobs/*, nobody else
// anything.
func rbacAuditConfig(dir string) (config.Config, string) {
	cfg := testConfig(dir)
	log := filepath.Join(dir, "audit.log")
	cfg.Middleware = []string{"rbac", "audit"}
	cfg.Plugins["rbac"] = config.Plugin{Path: rbacMiddleware, OnError: config.FailOpen, Config: map[string]any{
		"roles":    map[string]any{"ops": []any{"acquire", "release", "inspect"}},
		"bindings": map[string]any{principal(): []any{"ops"}},
		"rules":    []any{map[string]any{"role": "ops", "resources": []any{"jobs/*"}}},
	}}
	cfg.Plugins["audit"] = config.Plugin{Path: auditMiddleware, Config: map[string]any{"path": log, "level": "full"}}
	return cfg, log
}

// TestRBACDenialIsAudited: an unauthorised principal is denied with the
// reason RBAC gave, the denial is in the audit log, an authorised one
// passes, and the log verifies.
func TestRBACDenialIsAudited(t *testing.T) {
	cfg, log := rbacAuditConfig(t.TempDir())
	h := newHostFrom(t, cfg)
	ctx := testCtx(t)

	_, err := h.Named(WithPrincipal(ctx, "mallory"), "jobs/nightly")
	var d *hooks.Denial
	if !errors.Is(err, ErrDenied) || !errors.As(err, &d) || d.Hook != "rbac" || !strings.Contains(err.Error(), `"mallory" has no role`) {
		t.Fatalf("unauthorised acquire: %v, want ErrDenied by rbac naming the missing binding", err)
	}
	if _, err := h.Named(ctx, "prod/db"); !errors.Is(err, ErrDenied) || !strings.Contains(err.Error(), "no rule lets") {
		t.Fatalf("acquire outside the rules: %v", err)
	}
	l, err := h.Named(ctx, "jobs/nightly", WithMeta("purpose", "backup"))
	if err != nil {
		t.Fatalf("authorised acquire: %v", err)
	}
	if err := l.Convert(ctx, Shared); !errors.Is(err, ErrDenied) {
		t.Fatalf("convert without the grant: %v", err)
	}
	if err := l.Release(ctx); err != nil {
		t.Fatal(err)
	}
	raw, err := os.ReadFile(log)
	if err != nil {
		t.Fatal(err)
	}
	got := string(raw)
	for _, want := range []string{
		`"principal":"mallory","pid":` + fmt.Sprint(os.Getpid()),
		`"op":"acquire","resource":"jobs/nightly","mode":"exclusive","outcome":"denied","code":"DENIED"`,
		`"op":"acquire","resource":"jobs/nightly","mode":"exclusive","token":`,
		`"purpose":"backup"`,
		`"op":"convert","resource":"jobs/nightly","mode":"shared","outcome":"denied"`,
		`"op":"release","resource":"jobs/nightly"`,
	} {
		if !strings.Contains(got, want) {
			t.Errorf("audit log lacks %s:\n%s", want, got)
		}
	}
	if strings.Count(got, "\n") != 5 {
		t.Errorf("audit log has %d lines, want 5 (one per operation, AFTER only):\n%s", strings.Count(got, "\n"), got)
	}
	if _, err := audit.Verify(log); err != nil {
		t.Fatalf("verify: %v", err)
	}
	// RBAC is fail-closed whatever on_error says.
	for _, l := range h.Hooks() {
		if l.Hook.Name() == "rbac" && l.FailOpen {
			t.Fatal("rbac runs fail-open")
		}
	}
}

// TestInProcessHooksInterleave: a Go hook named in the middleware list
// runs at its place among the plugins, BEFORE in order and AFTER in
// reverse, and an unnamed one runs first.
func TestInProcessHooksInterleave(t *testing.T) {
	dir := t.TempDir()
	cfg, log := auditConfig(dir, "")
	cfg.Middleware = []string{"auditmw", "mark"}
	var mu sync.Mutex
	record := func(name string) hooks.Hook {
		return hooks.New(name, func(_ context.Context, in sdk.Interception) (sdk.Verdict, error) {
			mu.Lock()
			defer mu.Unlock()
			f, err := os.OpenFile(log, os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o644)
			if err != nil {
				return sdk.Verdict{}, err
			}
			defer f.Close()
			fmt.Fprintf(f, "%s %s %s %s\n", name, in.Phase, in.Op, in.Metadata["audited"])
			return sdk.Verdict{}, nil
		}, hooks.BeforeAcquire, hooks.AfterAcquire)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	h, err := New(ctx, cfg, WithHook(record("mark")), WithHook(record("first")))
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	l, err := h.Named(testCtx(t), "r")
	if err != nil {
		t.Fatal(err)
	}
	_ = l.Release(testCtx(t))
	raw, _ := os.ReadFile(log)
	var order []string
	for _, line := range strings.Split(string(raw), "\n") {
		f := strings.Fields(line)
		switch {
		case len(f) >= 3 && f[2] == "acquire": // a Go hook: NAME PHASE OP
			order = append(order, f[0]+":"+f[1])
		case len(f) >= 2 && f[1] == "acquire": // the plugin: PHASE OP …
			order = append(order, f[0]+":"+f[1])
		}
	}
	want := "first:before before:acquire mark:before mark:after after:acquire first:after"
	if got := strings.Join(order, " "); got != want {
		t.Fatalf("order:\n got %s\nwant %s\n%s", got, want, raw)
	}
	if !strings.Contains(string(raw), "mark before acquire yes") {
		t.Errorf("the Go hook did not see the metadata the plugin before it rewrote:\n%s", raw)
	}
}

// TestCrashedMiddlewareRestarted: the operation that meets a crashed
// fail-closed middleware is refused, the host starts the plugin again,
// and later operations pass through the new process.
func TestCrashedMiddlewareRestarted(t *testing.T) {
	cfg, log := auditConfig(t.TempDir(), "")
	h := newHostFrom(t, cfg)
	ctx := testCtx(t)
	p := h.chainNow().procs[0]
	old := p.pid()
	if err := syscall.Kill(old, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	waitFor(t, func() bool { return p.pid() == 0 })
	if _, err := h.Named(ctx, "r"); !errors.Is(err, ErrDenied) || !errors.Is(err, ErrMiddlewareDown) {
		t.Fatalf("lock across the crash: %v, want a fail_closed denial", err)
	}
	deadline := time.Now().Add(15 * time.Second)
	for {
		l, err := h.Named(ctx, "r")
		if err == nil {
			_ = l.Release(ctx)
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("middleware not restarted: %v", err)
		}
		time.Sleep(50 * time.Millisecond)
	}
	if now := p.pid(); now == 0 || now == old {
		t.Fatalf("pid after restart %d (before %d)", now, old)
	}
	raw, _ := os.ReadFile(log)
	if !strings.Contains(string(raw), "after release r") {
		t.Fatalf("the restarted middleware did not see the release:\n%s", raw)
	}
}
