package host

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"time"

	"github.com/locksmithx/locksmith/examples/memory-backend/memstore"
	"github.com/locksmithx/locksmith/sdk"
)

// corruptRenewals answers KeepAlive with a CORRUPT error once broken is set.
type corruptRenewals struct {
	*memstore.Store
	broken atomic.Bool
}

func (c *corruptRenewals) KeepAlive(ctx context.Context, id string) (time.Duration, error) {
	if c.broken.Load() {
		return 0, sdk.Errorf(sdk.CodeCorrupt, "session record of %s is damaged", id)
	}
	return c.Store.KeepAlive(ctx, id)
}

// TestCorruptRenewalEndsTheSession: a KeepAlive answered with CORRUPT ends
// the session at once, with that cause: only an unreachable backend is a
// passing failure worth retrying until the lease runs out.
func TestCorruptRenewalEndsTheSession(t *testing.T) {
	store := memstore.New()
	if err := store.Configure(context.Background(), sdk.Config{}); err != nil {
		t.Fatal(err)
	}
	be := &corruptRenewals{Store: store}
	h := hostOn(t, be, sdk.PluginInfo{Name: "memory", Kind: sdk.KindBackend, Capabilities: []string{sdk.CapWatch}}, nil)
	h.defaultSlot().ttl = 3 * time.Second
	ctx := testCtx(t)
	l, err := h.Named(ctx, "corrupt-renewal")
	if err != nil {
		t.Fatal(err)
	}
	be.broken.Store(true)
	select {
	case <-l.Done():
	case <-ctx.Done():
		t.Fatal("the lease outlived its session's corrupt renewals")
	}
	lost := l.Lost()
	if !errors.Is(lost, sdk.ErrCorrupt) || errors.Is(lost, ErrBackendUnavailable) {
		t.Fatalf("lost: %v; want the CORRUPT answer as the cause, not a backend that was unreachable until the retries gave up", lost)
	}
}
