package backendtest_test

import (
	"context"
	"fmt"
	"os"
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
// of configured stores:
//
//	func TestConformance(t *testing.T) {
//		backendtest.Run(t, newStore, backendtest.WithSlack(3*time.Second))
//	}
//
// Run checks every store in-process and again through a real gRPC
// connection, as the host will use it. Here the test function runs through
// testing.RunTests, on the in-memory example store, with short session
// TTLs so that the timed checks finish quickly.
func ExampleRun() {
	conformance := func(t *testing.T) {
		backendtest.Run(t, newStore,
			backendtest.WithSessionTTL(500*time.Millisecond),
			// A store that removes expired sessions by a periodic sweep
			// rather than a timer allows for its sweep interval.
			backendtest.WithSlack(time.Second),
		)
	}
	// go test calls TestConformance itself; an example runs it by hand,
	// keeping the suite's verbose log (go test -v) out of its output.
	stdout := os.Stdout
	os.Stdout, _ = os.OpenFile(os.DevNull, os.O_WRONLY, 0)
	all := func(string, string) (bool, error) { return true, nil }
	ok := testing.RunTests(all, []testing.InternalTest{{Name: "TestConformance", F: conformance}})
	os.Stdout.Close()
	os.Stdout = stdout
	fmt.Println("conformance:", ok)
	// Output: conformance: true
}

// A factory that starts the backend as a real plugin process gets a gRPC
// client already, so the suite's own gRPC run is left out.
func ExampleWithoutGRPC() {
	testPlugin := func(t *testing.T, plugin sdk.Backend) {
		backendtest.Run(t, func(*testing.T) sdk.Backend { return plugin }, backendtest.WithoutGRPC())
	}
	_ = testPlugin
}
