package file

import (
	"testing"

	"github.com/locksmithx/locksmith/sdk"
	"github.com/locksmithx/locksmith/sdk/backendtest"
)

// TestConformance runs the backend conformance suite in process and through
// gRPC. Every factory call is a separate store (as separate plugin
// processes would be) on one shared directory. A restart is not checked:
// a file session lives as long as its locked session file is held, so it
// outlives a restart only through adoption (AdoptedSession* checks).
func TestConformance(t *testing.T) {
	dir := t.TempDir()
	backendtest.Run(t, func(t *testing.T) sdk.Backend { return newStore(t, dir) }, backendtest.WithSharedStore())
}
