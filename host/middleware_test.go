package host

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/locksmithx/locksmith/config"
)

// auditConfig is a file-backend config with the audit middleware in front.
func auditConfig(dir, onError string) (config.Config, string) {
	cfg := testConfig(dir)
	log := filepath.Join(dir, "audit.log")
	cfg.Middleware = []string{"auditmw"}
	cfg.Plugins["auditmw"] = config.Plugin{Path: auditPlugin, OnError: onError, Config: map[string]any{"log": log}}
	return cfg, log
}

func TestMiddlewareChain(t *testing.T) {
	dir := t.TempDir()
	cfg, log := auditConfig(dir, "")
	h := newHostFrom(t, cfg)
	ctx := testCtx(t)

	if _, err := h.Named(ctx, "deny/x"); !errors.Is(err, ErrDenied) || !strings.Contains(err.Error(), "off limits") {
		t.Fatalf("denied resource: %v, want ErrDenied with the reason", err)
	}
	l, err := h.Named(ctx, "ok", WithMeta("job", "nightly"))
	if err != nil {
		t.Fatal(err)
	}
	st, err := h.Status(ctx, "ok")
	if err != nil {
		t.Fatal(err)
	}
	if m := st.Holders[0].Meta; m["audited"] != "yes" || m["job"] != "nightly" {
		t.Fatalf("metadata after the chain: %v, want audited=yes beside job=nightly", m)
	}
	if err := l.Convert(ctx, Shared); err != nil {
		t.Fatal(err)
	}
	if err := l.Release(ctx); err != nil {
		t.Fatal(err)
	}
	cached, err := h.Status(ctx, "cached")
	if err != nil || cached.Revision != 42 {
		t.Fatalf("status answered by the middleware: %+v, %v", cached, err)
	}
	raw, _ := os.ReadFile(log)
	got := string(raw)
	for _, want := range []string{
		"before acquire deny/x", `after acquire deny/x`, "off limits",
		"before acquire ok", "after acquire ok", "before convert ok", "after convert ok",
		"before release ok", "after release ok", "before status cached",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("audit log lacks %q:\n%s", want, got)
		}
	}
	if !strings.Contains(got, "after acquire ok "+principal()+" token=") || strings.Contains(got, "after acquire ok "+principal()+" token=0 ") {
		t.Errorf("AFTER did not see the fencing token:\n%s", got)
	}
}

func TestMiddlewareFailure(t *testing.T) {
	for _, tc := range []struct {
		onError string
		wantErr bool
	}{{config.FailClosed, true}, {config.FailOpen, false}} {
		t.Run(tc.onError, func(t *testing.T) {
			cfg, _ := auditConfig(t.TempDir(), tc.onError)
			h := newHostFrom(t, cfg)
			ctx := testCtx(t)
			p := h.chainNow().procs[0]
			if err := syscall.Kill(p.pid(), syscall.SIGKILL); err != nil {
				t.Fatal(err)
			}
			waitFor(t, func() bool { return p.pid() == 0 })
			l, err := h.Named(ctx, "r")
			if tc.wantErr {
				if !errors.Is(err, ErrDenied) || !strings.Contains(err.Error(), "fail_closed") {
					t.Fatalf("lock with a dead fail_closed middleware: %v, want ErrDenied", err)
				}
				return
			}
			if err != nil {
				t.Fatalf("lock with a dead fail_open middleware: %v", err)
			}
			_ = l.Release(ctx)
		})
	}
}

func TestMiddlewareConfigRefused(t *testing.T) {
	dir := t.TempDir()
	cfg, _ := auditConfig(dir, "")
	p := cfg.Plugins["auditmw"]
	p.Config = map[string]any{"lgo": "x"}
	cfg.Plugins["auditmw"] = p
	if _, err := New(testCtx(t), cfg); !errors.Is(err, ErrInvalidConfig) || !strings.Contains(err.Error(), "lgo") {
		t.Fatalf("middleware with a bad config: %v", err)
	}
	cfg.Middleware = []string{"file"}
	if _, err := New(testCtx(t), cfg); !errors.Is(err, ErrInvalidConfig) {
		t.Fatalf("the backend as middleware: %v", err)
	}
}

// TestPrincipalFromContext: middleware sees the principal a context names
// (a server's bearer identity), in BEFORE and AFTER, and the OS user
// otherwise.
func TestPrincipalFromContext(t *testing.T) {
	dir := t.TempDir()
	cfg, log := auditConfig(dir, "")
	h := newHostFrom(t, cfg)
	ctx := WithPrincipal(testCtx(t), "deploy-bot")
	l, err := h.Named(ctx, "who")
	if err != nil {
		t.Fatal(err)
	}
	if err := l.Release(testCtx(t)); err != nil {
		t.Fatal(err)
	}
	raw, _ := os.ReadFile(log)
	got := string(raw)
	for _, want := range []string{"before acquire who deploy-bot ", "after acquire who deploy-bot ", "before release who " + principal() + " "} {
		if !strings.Contains(got, want) {
			t.Errorf("audit log lacks %q:\n%s", want, got)
		}
	}
}
