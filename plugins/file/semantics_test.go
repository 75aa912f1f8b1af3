package file

import (
	"path/filepath"
	"testing"
	"time"

	"github.com/locksmithx/locksmith/config"
	"github.com/locksmithx/locksmith/host/hosttest"
)

// TestLockSemantics runs the host's lock semantics on the file backend,
// each host with a plugin process of its own.
func TestLockSemantics(t *testing.T) {
	bin := pluginBinary(t)
	dir := t.TempDir()
	hosttest.Run(t, func(*testing.T) config.Config {
		cfg := config.Default()
		cfg.Lease.TTL = 10 * time.Second // a loaded machine must not expire a session between renewals
		cfg.Plugins["file"] = config.Plugin{Path: bin, Config: map[string]any{
			"named_dir": filepath.Join(dir, "named"), "session_dir": filepath.Join(dir, "sessions"),
		}}
		return cfg
	})
}
