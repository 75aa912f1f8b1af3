package main

import (
	"context"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/locksmithx/locksmith/sdk"
	"github.com/locksmithx/locksmith/sdk/backendtest"
)

// TestPluginProcess builds this command and runs the conformance suite
// against it as a real plugin process, started and reached the way the
// host does: go-plugin, gRPC, automatic mutual TLS.
func TestPluginProcess(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and starts the plugin binary")
	}
	goTool, err := exec.LookPath("go")
	if err != nil {
		t.Skipf("no go tool to build the plugin with: %v", err)
	}
	bin := filepath.Join(t.TempDir(), "locksmith-plugin-memory")
	build := exec.Command(goTool, "build", "-o", bin, ".")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}

	conn, err := sdk.Launch(exec.Command(bin), sdk.KindBackend)
	if err != nil {
		t.Fatalf("launch plugin: %v", err)
	}
	t.Cleanup(conn.Kill)
	b := conn.Backend()
	if b == nil {
		t.Fatal("plugin does not serve a backend")
	}
	if err := b.Configure(context.Background(), sdk.Config{"history": 64}); err != nil {
		t.Fatalf("configure plugin: %v", err)
	}

	backendtest.Run(t, func(*testing.T) sdk.Backend { return b }, backendtest.WithoutGRPC())

	if conn.Exited() {
		t.Errorf("plugin process exited during the suite")
	}
}
