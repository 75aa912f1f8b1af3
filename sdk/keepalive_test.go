package sdk_test

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"time"

	"github.com/locksmithx/locksmith/examples/memory-backend/memstore"
	"github.com/locksmithx/locksmith/sdk"
)

// flakyRenewals fails the next n renewals as if the store were briefly
// unreachable.
type flakyRenewals struct {
	*memstore.Store
	failures atomic.Int32
}

func (f *flakyRenewals) KeepAlive(ctx context.Context, id string) (time.Duration, error) {
	if f.failures.Add(-1) >= 0 {
		return 0, sdk.Errorf(sdk.CodeUnavailable, "store briefly unreachable")
	}
	return f.Store.KeepAlive(ctx, id)
}

func TestKeepAliveSurvivesPassingErrors(t *testing.T) {
	impl := &flakyRenewals{Store: memstore.New()}
	be := sdk.TestBackendConn(t, impl)
	ctx := context.Background()
	s, err := be.OpenSession(ctx, 30*time.Second, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := be.KeepAlive(ctx, s.ID); err != nil {
		t.Fatal(err)
	}
	impl.failures.Store(2)
	for i := 0; i < 2; i++ {
		if _, err := be.KeepAlive(ctx, s.ID); !errors.Is(err, sdk.ErrUnavailable) {
			t.Fatalf("renewal %d while the store is unreachable: %v, want ErrUnavailable", i, err)
		}
	}
	if _, err := be.KeepAlive(ctx, s.ID); err != nil {
		t.Fatalf("renewal after the store came back: %v; a passing error must not end the session", err)
	}
	if _, err := be.Put(ctx, sdk.PutRequest{Resource: "r", Key: "k", Session: s.ID}); err != nil {
		t.Fatalf("session unusable after passing errors: %v", err)
	}
	if err := be.Revoke(ctx, s.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := be.KeepAlive(ctx, s.ID); !errors.Is(err, sdk.ErrSessionExpired) {
		t.Fatalf("renewal of a revoked session: %v, want ErrSessionExpired", err)
	}
}
