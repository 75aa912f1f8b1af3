package host

import (
	"context"
	"path/filepath"
	"syscall"
)

// Bridges for the examples of package host_test, which see only the
// exported API.

// PluginDirForExamples is the directory holding the file backend plugin
// that TestMain built (locksmith-plugin-file).
func PluginDirForExamples() string { return filepath.Dir(filePlugin) }

// KillBackendForExamples kills h's backend plugin process with SIGKILL, as
// a crash would.
func KillBackendForExamples(ctx context.Context, h *Host) error {
	g, err := h.defaultSlot().sup.get(ctx)
	if err != nil {
		return err
	}
	return syscall.Kill(g.conn.Pid(), syscall.SIGKILL)
}
