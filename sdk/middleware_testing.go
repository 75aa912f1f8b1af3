package sdk

import (
	"testing"

	"github.com/hashicorp/go-plugin"
)

// TestMiddlewareConn serves impl over a real in-memory gRPC connection,
// through the same go-plugin glue a plugin process uses, and returns the
// host's side of it. The connection is closed when the test ends.
func TestMiddlewareConn(t testing.TB, impl Middleware) Middleware {
	t.Helper()
	client, _ := plugin.TestPluginGRPCConn(t, false, map[string]plugin.Plugin{
		string(KindMiddleware): &middlewarePlugin{impl: impl},
	})
	t.Cleanup(func() { _ = client.Close() })
	raw, err := client.Dispense(string(KindMiddleware))
	if err != nil {
		t.Fatalf("dispense middleware: %v", err)
	}
	return raw.(Middleware)
}
