package backendtest_test

import (
	"context"
	"testing"
	"time"

	"github.com/locksmithx/locksmith/examples/memory-backend/memstore"
	"github.com/locksmithx/locksmith/sdk"
	"github.com/locksmithx/locksmith/sdk/backendtest"
)

// newStore is a factory: Run calls it once per check. The stores it
// returns may share state (one server, one directory): the checks use
// resource names of their own.
func newStore(t *testing.T) sdk.Backend {
	s := memstore.New()
	t.Cleanup(func() { _ = s.Close() })
	if err := s.Configure(context.Background(), sdk.Config{"history": 64}); err != nil {
		t.Fatalf("configure: %v", err)
	}
	return s
}

// A backend runs the suite from a test function of its own, with a factory
// of configured stores. Run checks every store in-process and again through
// a real gRPC connection, as the host will use it.
func ExampleRun() {
	testConformance := func(t *testing.T) {
		backendtest.Run(t, newStore,
			// A store that removes expired sessions by a periodic sweep
			// rather than a timer allows for its sweep interval.
			backendtest.WithSlack(3*time.Second),
		)
	}
	// go test calls it as func TestConformance(t *testing.T).
	_ = testConformance
}

// A factory that starts the backend as a real plugin process gets a gRPC
// client already, so the suite's own gRPC run is left out.
func ExampleWithoutGRPC() {
	testPlugin := func(t *testing.T, plugin sdk.Backend) {
		backendtest.Run(t, func(*testing.T) sdk.Backend { return plugin }, backendtest.WithoutGRPC())
	}
	_ = testPlugin
}
