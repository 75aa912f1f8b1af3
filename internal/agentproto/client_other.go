//go:build !linux

package agentproto

import "errors"

// Exec is Linux-only: the server checks its clients' peer credentials.
func Exec(string, Request, []string, ExecOptions) (int, error) {
	return ExitUsage, errors.New("the agent socket (LOCKSMITH_SERVER, serve --agent-socket) is Linux-only")
}
