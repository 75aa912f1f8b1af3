//go:build linux

package main

import (
	"os"
	"strings"

	"github.com/locksmithx/locksmith/host"
	"github.com/locksmithx/locksmith/internal/agentproto"
)

// runExecAgent is exec through the server on the unix socket sock: the
// server takes and holds the lock, exec runs the command as it does with a
// host of its own (see agentproto.Exec).
func runExecAgent(sock string, g *globals, f *execFlags, mode host.Mode, resource string, argv []string) error {
	level := g.logLevel
	if level == "" {
		level = os.Getenv("LOCKSMITH_LOG_LEVEL")
	}
	if level == "" {
		level = "warn"
	}
	log := newLogger(level).Named("exec")
	req := agentRequest{Resource: resource, Mode: mode.String(), Limit: f.limit, NoWait: f.noWait,
		Hierarchical: f.hierarchical, ConflictExit: f.conflictExit, WaitMS: f.wait.Milliseconds()}
	if f.wait > 0 && req.WaitMS == 0 {
		req.WaitMS = 1
	}
	for _, kv := range f.meta {
		k, v, _ := strings.Cut(kv, "=")
		if req.Meta == nil {
			req.Meta = map[string]string{}
		}
		req.Meta[k] = v
	}
	code, err := agentproto.Exec(sock, req, argv, agentproto.ExecOptions{Run: runOptions(mode, 0, nil, nil, log)})
	return &exitError{code: code, err: err}
}
