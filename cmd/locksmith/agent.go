package main

import "github.com/locksmithx/locksmith/internal/agentproto"

// The agent protocol lives in internal/agentproto, shared with the thin
// client locksmith-exec.
type (
	agentRequest = agentproto.Request
	agentReply   = agentproto.Reply
)

const (
	serverEnv      = agentproto.ServerEnv
	agentIOTimeout = agentproto.IOTimeout
)

var newAgentConn = agentproto.NewConn

// agentSocket returns the socket LOCKSMITH_SERVER names, or "" when it is
// unset; a malformed value is a usage error.
func agentSocket() (string, error) {
	sock, err := agentproto.Socket()
	if err != nil {
		return "", usageErr("%v", err)
	}
	return sock, nil
}
