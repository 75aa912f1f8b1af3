//go:build linux

package main

import (
	"os"

	"github.com/locksmithx/locksmith/host"
	"github.com/locksmithx/locksmith/internal/agentproto"
	"github.com/locksmithx/locksmith/internal/execflags"
)

// runExecAgent is exec through the server on the unix socket sock: the
// server takes and holds the lock, exec runs the command as it does with a
// host of its own (see agentproto.Exec).
func runExecAgent(sock string, g *globals, f *execflags.Flags, mode host.Mode, resource string, argv []string) error {
	level := g.logLevel
	if level == "" {
		level = os.Getenv("LOCKSMITH_LOG_LEVEL")
	}
	if level == "" {
		level = "warn"
	}
	log := newLogger(level).Named("exec")
	req := f.Request(resource)
	req.Mode = mode.String()
	code, err := agentproto.Exec(sock, req, argv, agentproto.ExecOptions{Run: runOptions(mode, 0, nil, nil, log)})
	return &exitError{code: code, err: err}
}
