package host

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"testing"
	"time"

	"github.com/locksmithx/locksmith/config"
)

// filePlugin is the file backend's binary, built once for the package's
// tests.
var filePlugin string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "locksmith-host-test-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	filePlugin = filepath.Join(dir, "locksmith-plugin-file")
	_, self, _, _ := runtime.Caller(0)
	root := filepath.Dir(filepath.Dir(self))
	build := exec.Command("go", "build", "-o", filePlugin, "./plugins/file/cmd/locksmith-plugin-file")
	build.Dir = root
	if out, err := build.CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "build file plugin: %v\n%s", err, out)
		os.RemoveAll(dir)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// testConfig is a config whose file backend keeps all its state under dir.
func testConfig(dir string) config.Config {
	cfg := config.Default()
	cfg.Lease.TTL = 3 * time.Second
	cfg.Plugins["file"] = config.Plugin{Path: filePlugin, Config: map[string]any{
		"named_dir":   filepath.Join(dir, "named"),
		"session_dir": filepath.Join(dir, "sessions"),
	}}
	return cfg
}

// newTestHost starts a host on the file backend under dir; it is closed
// when the test ends.
func newTestHost(t testing.TB, dir string) *Host {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	h, err := New(ctx, testConfig(dir))
	if err != nil {
		t.Fatalf("new host: %v", err)
	}
	t.Cleanup(func() { _ = h.Close() })
	return h
}

func testCtx(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	t.Cleanup(cancel)
	return ctx
}
