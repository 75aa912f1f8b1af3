package host

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/locksmithx/locksmith/sdk"
)

// TestResultCodeOfEveryHostError: each host error reaches middleware with
// its own code, and an error wrapping several is named by the outcome.
func TestResultCodeOfEveryHostError(t *testing.T) {
	backendGone := sdk.Errorf(sdk.CodeUnavailable, "connection refused")
	for _, tc := range []struct {
		err  error
		want sdk.Code
	}{
		{fmt.Errorf("lock r: %w", ErrConflict), sdk.CodeConflict},
		{fmt.Errorf("lock r: %w", ErrTimeout), sdk.CodeTimeout},
		{fmt.Errorf("lock r: %w: %w", ErrLost, backendGone), sdk.CodeLost},
		{fmt.Errorf("release r: %w", ErrNotHeld), sdk.CodeNotHeld},
		{fmt.Errorf("release r: %w: %w", ErrNotHeld, fmt.Errorf("%w: r: %w", ErrLost, backendGone)), sdk.CodeNotHeld},
		{fmt.Errorf("convert r: %w", ErrDeadlock), sdk.CodeDeadlock},
		{fmt.Errorf("%w by rbac: no", ErrDenied), sdk.CodeDenied},
		{fmt.Errorf("lock r: %w: %w", ErrBackendUnavailable, backendGone), sdk.CodeUnavailable},
		{fmt.Errorf("%w: lock mode 9", ErrInvalidConfig), sdk.CodeInvalidArgument},
		{fmt.Errorf("%w: plugin \"x\"", ErrPluginChecksum), sdk.CodeInvalidConfig},
		{fmt.Errorf("lock r: %w", ErrConditionFailed), sdk.CodeConditionFailed},
		{fmt.Errorf("lock r: %w", ErrClosed), sdk.CodeClosed},
		{fmt.Errorf("status r: %w", sdk.Errorf(sdk.CodeCorrupt, "bad checksum")), sdk.CodeCorrupt},
		{errors.New("something else"), sdk.CodeUnknown},
	} {
		if got := resultCode(tc.err); got != tc.want {
			t.Errorf("resultCode(%v) = %s, want %s", tc.err, got, tc.want)
		}
	}
}

// TestMiddlewareSeesResultCodes: the codes of real failed operations, as
// an audit middleware records them after each one.
func TestMiddlewareSeesResultCodes(t *testing.T) {
	dir := t.TempDir()
	cfg, log := auditConfig(dir, "")
	h := newHostFrom(t, cfg)
	other := newTestHost(t, dir)
	ctx := testCtx(t)

	held := mustLock(t, other, "busy")
	if _, err := h.Named(ctx, "busy", NoWait()); !errors.Is(err, ErrConflict) {
		t.Fatalf("lock of a held resource: %v", err)
	}
	wctx, cancel := context.WithTimeout(ctx, 300*time.Millisecond)
	_, err := h.Named(wctx, "busy")
	cancel()
	if !errors.Is(err, ErrTimeout) {
		t.Fatalf("wait past the deadline: %v", err)
	}
	_ = held.Release(ctx)

	l := mustLock(t, h, "twice")
	if err := l.Release(ctx); err != nil {
		t.Fatal(err)
	}
	if err := l.Release(ctx); !errors.Is(err, ErrNotHeld) {
		t.Fatalf("second release: %v", err)
	}

	r1 := mustLock(t, h, "up", WithMode(Shared))
	r2 := mustLock(t, other, "up", WithMode(Shared))
	first := make(chan error, 1)
	go func() { first <- r2.Upgrade(ctx) }()
	waitFor(t, func() bool { return waitingUpgrade(h, ctx, "up") })
	if err := r1.Upgrade(ctx); !errors.Is(err, ErrDeadlock) {
		t.Fatalf("second upgrade: %v", err)
	}
	_ = r1.Release(ctx)
	if err := <-first; err != nil {
		t.Fatal(err)
	}
	_ = r2.Release(ctx)

	raw, _ := os.ReadFile(log)
	lines := strings.Split(string(raw), "\n")
	for _, want := range []struct{ op, code string }{
		{"after acquire busy ", "CONFLICT"},
		{"after acquire busy ", "TIMEOUT"},
		{"after release twice ", "NOT_HELD"},
		{"after convert up ", "DEADLOCK"},
	} {
		found := false
		for _, line := range lines {
			found = found || strings.HasPrefix(line, want.op) && strings.HasSuffix(line, " code="+want.code)
		}
		if !found {
			t.Errorf("audit log has no %q line with code %s:\n%s", want.op, want.code, raw)
		}
	}
}
