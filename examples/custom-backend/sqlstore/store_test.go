package sqlstore_test

import (
	"context"
	"path/filepath"
	"testing"

	"example.com/locksmith-sqlite/sqlstore"
	"github.com/locksmithx/locksmith/sdk"
	"github.com/locksmithx/locksmith/sdk/backendtest"
)

// newStore returns a factory of stores that all open one database file, as
// the processes of one plugin do, with a short history so that the suite
// sees sdk.ErrCompacted.
func newStore(path string) backendtest.Factory {
	return func(t *testing.T) sdk.Backend {
		s := sqlstore.New()
		t.Cleanup(func() { _ = s.Close() })
		if err := s.Configure(context.Background(), sdk.Config{"path": path, "history": 64}); err != nil {
			t.Fatalf("configure: %v", err)
		}
		return s
	}
}

func TestConformance(t *testing.T) {
	f := newStore(filepath.Join(t.TempDir(), "locks.db"))
	backendtest.Run(t, f, backendtest.WithTimeout(waitBound), backendtest.WithClients(clients), backendtest.WithSharedStore(),
		backendtest.WithRestart(func(t *testing.T, b sdk.Backend) sdk.Backend {
			_ = b.(*sqlstore.Store).Close()
			return f(t)
		}))
}
