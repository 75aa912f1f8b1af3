package host

import (
	"bytes"
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/locksmithx/locksmith/config"
	"github.com/locksmithx/locksmith/hooks"
	"github.com/locksmithx/locksmith/sdk"
)

// TestNotificationPoints: a Go hook at AfterRenew hears the session's
// renewals, and one at OnLost hears a lost lease with its cause; neither
// is called at any other point.
func TestNotificationPoints(t *testing.T) {
	cfg := config.Default()
	cfg.Backend = "memory"
	cfg.Lease.TTL = 3 * time.Second
	cfg.Plugins["memory"] = config.Plugin{Path: memoryPlugin}
	var mu sync.Mutex
	var seen []sdk.Interception
	rec := hooks.New("rec", func(_ context.Context, in sdk.Interception) (sdk.Verdict, error) {
		mu.Lock()
		seen = append(seen, in)
		mu.Unlock()
		return sdk.Verdict{}, nil
	}, hooks.AfterRenew, hooks.OnLost)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	h, err := New(ctx, cfg, WithHook(rec))
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	if _, err := h.Named(testCtx(t), "gone"); err != nil {
		t.Fatal(err)
	}
	has := func(op, resource string) bool {
		mu.Lock()
		defer mu.Unlock()
		for _, in := range seen {
			if in.Op == op && in.Resource == resource {
				return true
			}
		}
		return false
	}
	deadline := time.Now().Add(15 * time.Second)
	for !has(sdk.OpRenew, "") {
		if time.Now().After(deadline) {
			t.Fatal("no renewal heard")
		}
		time.Sleep(20 * time.Millisecond)
	}
	killPlugin(t, h)
	for !has(sdk.OpLost, "gone") {
		if time.Now().After(deadline) {
			t.Fatal("the lost lease was not heard")
		}
		time.Sleep(20 * time.Millisecond)
	}
	mu.Lock()
	defer mu.Unlock()
	for _, in := range seen {
		if in.Op != sdk.OpRenew && in.Op != sdk.OpLost {
			t.Errorf("called at %s %s", in.Phase, in.Op)
		}
		if in.Op == sdk.OpLost && (in.ResultCode != sdk.CodeLost || !strings.Contains(in.Result, "lost")) {
			t.Errorf("lost without its cause: %+v", in)
		}
	}
}

// TestPluginLogLevel: a plugin's log_level drops what is below it, and is
// what the plugin is told.
func TestPluginLogLevel(t *testing.T) {
	var buf bytes.Buffer
	root := hclog.New(&hclog.LoggerOptions{Level: hclog.Trace, Output: &buf})
	l := pluginLogger(root, "audit", config.Plugin{LogLevel: "warn"})
	l.Debug("chatty")
	l.Named("sub").Info("chatty too")
	l.Warn("worth it")
	if l.GetLevel() != hclog.Warn || l.IsDebug() {
		t.Errorf("level %s, debug %v", l.GetLevel(), l.IsDebug())
	}
	if strings.Contains(buf.String(), "chatty") || !strings.Contains(buf.String(), "worth it") || !strings.Contains(buf.String(), "plugin.audit") {
		t.Errorf("log:\n%s", buf.String())
	}
	if same := pluginLogger(root, "file", config.Plugin{}); same.GetLevel() != hclog.Trace {
		t.Errorf("a plugin without log_level: %s", same.GetLevel())
	}
}
