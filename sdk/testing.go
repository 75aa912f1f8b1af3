package sdk

import (
	"sync"
	"testing"

	"github.com/hashicorp/go-plugin"
)

// TestBackendConn serves impl over a real in-memory gRPC connection, through
// the same go-plugin glue a plugin process uses, and returns the host's side
// of it. The connection is closed when the test ends.
func TestBackendConn(t testing.TB, impl Backend) Backend {
	t.Helper()
	b, _ := TestBackendConnClosable(t, impl)
	return b
}

// TestBackendConnClosable is TestBackendConn that also returns a function
// closing the connection at once, as if the host had gone away: the plugin
// side sees every stream of the connection break, so the sessions kept
// alive over it are revoked. Each call serves impl over a connection of its
// own. The close function can safely be called more than once; the
// connection is closed when the test ends in any case.
func TestBackendConnClosable(t testing.TB, impl Backend) (Backend, func()) {
	t.Helper()
	client, _ := plugin.TestPluginGRPCConn(t, false, map[string]plugin.Plugin{
		string(KindBackend): &backendPlugin{impl: impl},
	})
	var once sync.Once
	closeConn := func() { once.Do(func() { _ = client.Close() }) }
	t.Cleanup(closeConn)
	raw, err := client.Dispense(string(KindBackend))
	if err != nil {
		t.Fatalf("dispense backend: %v", err)
	}
	return raw.(Backend), closeConn
}
