package memstore_test

import (
	"context"
	"testing"

	"github.com/locksmithx/locksmith/examples/memory-backend/memstore"
	"github.com/locksmithx/locksmith/sdk"
	"github.com/locksmithx/locksmith/sdk/backendtest"
)

// newStore returns a store with a short history, so that the suite sees
// ErrCompacted.
func newStore(t *testing.T) sdk.Backend {
	s := memstore.New()
	t.Cleanup(func() { _ = s.Close() })
	if err := s.Configure(context.Background(), sdk.Config{"history": 64}); err != nil {
		t.Fatalf("configure: %v", err)
	}
	return s
}

func TestConformance(t *testing.T) {
	backendtest.Run(t, newStore)
}
