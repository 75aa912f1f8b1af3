//go:build !linux

package main

import (
	"errors"
	"github.com/locksmithx/locksmith/internal/execflags"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/locksmithx/locksmith/host"
)

// errAgentLinux: the agent socket needs Linux's peer credentials.
var errAgentLinux = errors.New("the agent socket (LOCKSMITH_SERVER, serve --agent-socket) is Linux-only; unset LOCKSMITH_SERVER")

func runExecAgent(string, *globals, *execflags.Flags, host.Mode, string, []string) error {
	return &exitError{code: exitUsage, err: errAgentLinux}
}

func startAgent(string, *host.Host, time.Duration, hclog.Logger) (func(), error) {
	return nil, errAgentLinux
}
