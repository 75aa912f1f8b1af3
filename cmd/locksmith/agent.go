package main

import (
	"encoding/json"
	"fmt"
	"net"
	"net/url"
	"os"
	"time"
)

// The agent protocol: `locksmith exec` as a thin client of a running
// `locksmith serve --agent-socket PATH`, over a unix socket, the way
// `consul lock` uses its agent. The connection is the lock's session: the
// server holds the lock for exactly as long as the connection is open, so
// an exec killed by SIGKILL releases at once (after the server has killed
// its command's process group), and one plugin process serves every exec
// on the machine.
//
// Messages are JSON objects, one per line. The client sends "acquire";
// the server answers "granted" or "refused". While the lock is held the
// client sends "guard" (its command's process group; answered "guarded")
// and finally "release" (answered "released"); the server may send "lost"
// at any time. A client that half-closes the connection while it waits
// withdraws its request.

// serverEnv names the agent exec uses: unix:///path/to/socket.
const serverEnv = "LOCKSMITH_SERVER"

// agentIOTimeout bounds an agent exchange that does not wait for a lock.
const agentIOTimeout = 10 * time.Second

// agentRequest is a client's message.
type agentRequest struct {
	Op           string            `json:"op"` // acquire, guard, release
	Resource     string            `json:"resource,omitempty"`
	Mode         string            `json:"mode,omitempty"`
	Limit        int               `json:"limit,omitempty"`
	NoWait       bool              `json:"no_wait,omitempty"`
	WaitMS       int64             `json:"wait_ms,omitempty"` // 0: until obtained
	Hierarchical bool              `json:"hierarchical,omitempty"`
	Meta         map[string]string `json:"meta,omitempty"`
	ConflictExit int               `json:"conflict_exit,omitempty"`
	PGID         int               `json:"pgid,omitempty"`
}

// agentReply is the server's message.
type agentReply struct {
	Op       string `json:"op"` // granted, refused, guarded, released, lost
	Token    int64  `json:"token,omitempty"`
	Resource string `json:"resource,omitempty"`
	TTLMS    int64  `json:"ttl_ms,omitempty"`
	Code     int    `json:"code,omitempty"` // refused: exec's exit code
	Message  string `json:"message,omitempty"`
}

// agentSocket returns the socket path LOCKSMITH_SERVER names, or "" when it
// is unset.
func agentSocket() (string, error) {
	v := os.Getenv(serverEnv)
	if v == "" {
		return "", nil
	}
	u, err := url.Parse(v)
	if err != nil || u.Scheme != "unix" || u.Path == "" || u.Host != "" {
		return "", usageErr("%s wants unix:///path/to/socket (a `locksmith serve --agent-socket PATH`), got %q", serverEnv, v)
	}
	return u.Path, nil
}

// agentConn is one end of an agent connection: JSON lines each way.
type agentConn struct {
	c   *net.UnixConn
	dec *json.Decoder
	enc *json.Encoder
}

func newAgentConn(c *net.UnixConn) *agentConn {
	return &agentConn{c: c, dec: json.NewDecoder(c), enc: json.NewEncoder(c)}
}

// send writes one message; the caller serialises sends.
func (a *agentConn) send(v any) error {
	if err := a.c.SetWriteDeadline(time.Now().Add(agentIOTimeout)); err != nil {
		return err
	}
	if err := a.enc.Encode(v); err != nil {
		return fmt.Errorf("write to agent connection: %w", err)
	}
	return nil
}
