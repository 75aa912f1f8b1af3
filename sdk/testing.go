package sdk

import (
	"testing"

	"github.com/hashicorp/go-plugin"
)

// TestBackendConn serves impl over a real in-memory gRPC connection, through
// the same go-plugin glue a plugin process uses, and returns the host's side
// of it. The connection is closed when the test ends.
func TestBackendConn(t testing.TB, impl Backend) Backend {
	t.Helper()
	client, _ := plugin.TestPluginGRPCConn(t, false, map[string]plugin.Plugin{
		PluginBackend: &backendPlugin{impl: impl},
	})
	t.Cleanup(func() { _ = client.Close() })
	raw, err := client.Dispense(PluginBackend)
	if err != nil {
		t.Fatalf("dispense backend: %v", err)
	}
	return raw.(Backend)
}
