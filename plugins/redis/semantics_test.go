package redis

import (
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/locksmithx/locksmith/config"
	"github.com/locksmithx/locksmith/host/hosttest"
	"github.com/locksmithx/locksmith/internal/redistest"
)

// TestLockSemantics runs the host's lock semantics on a real Redis, each
// host with a plugin process of its own.
func TestLockSemantics(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the plugin binary and runs hosts on it")
	}
	srv := redistest.Start(t)
	bin := filepath.Join(t.TempDir(), "locksmith-plugin-redis")
	if out, err := exec.Command("go", "build", "-o", bin, "./cmd/locksmith-plugin-redis").CombinedOutput(); err != nil {
		t.Fatalf("build plugin: %v\n%s", err, out)
	}
	hosttest.Run(t, func(*testing.T) config.Config {
		cfg := config.Default()
		cfg.Backend = "redis"
		cfg.Lease.TTL = 10 * time.Second // a loaded machine must not expire a session between renewals
		cfg.Plugins["redis"] = config.Plugin{Path: bin, Config: map[string]any{
			"addrs": []any{srv.Addr}, "prefix": "semantics:",
		}}
		return cfg
	})
}
