// Package agentproto is the protocol between `locksmith serve
// --agent-socket` and its exec clients (`locksmith exec` with
// LOCKSMITH_SERVER set, and `locksmith-exec`). It depends on the standard
// library alone.
package agentproto

import (
	"encoding/json"
	"fmt"
	"net"
	"net/url"
	"os"
	"time"

	"github.com/locksmithx/locksmith/internal/runcmd"
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

// ServerEnv names the agent exec uses: unix:///path/to/socket.
const ServerEnv = "LOCKSMITH_SERVER"

// IOTimeout bounds an agent exchange that does not wait for a lock.
const IOTimeout = 10 * time.Second

// Request is a client's message.
type Request struct {
	Op       string `json:"op"` // acquire, guard, release
	Resource string `json:"resource,omitempty"`
	// Kind says how the server is to spell Resource: "" (as the client
	// did already), "path" (an absolute path, whose symlinks the server
	// resolves) or "name" (a lock name).
	Kind         string            `json:"kind,omitempty"`
	Mode         string            `json:"mode,omitempty"`
	Limit        int               `json:"limit,omitempty"`
	NoWait       bool              `json:"no_wait,omitempty"`
	WaitMS       int64             `json:"wait_ms,omitempty"` // 0: until obtained
	Hierarchical bool              `json:"hierarchical,omitempty"`
	Meta         map[string]string `json:"meta,omitempty"`
	ConflictExit int               `json:"conflict_exit,omitempty"`
	PGID         int               `json:"pgid,omitempty"`
}

// Reply is the server's message.
type Reply struct {
	Op       string `json:"op"` // granted, refused, guarded, released, lost
	Token    int64  `json:"token,omitempty"`
	Resource string `json:"resource,omitempty"`
	TTLMS    int64  `json:"ttl_ms,omitempty"`
	Code     int    `json:"code,omitempty"` // refused: exec's exit code
	Message  string `json:"message,omitempty"`
	Mode     string `json:"mode,omitempty"` // granted: the mode's name
}

// Socket returns the socket path LOCKSMITH_SERVER names, or "" when it
// is unset.
func Socket() (string, error) {
	v := os.Getenv(ServerEnv)
	if v == "" {
		return "", nil
	}
	u, err := url.Parse(v)
	if err != nil || u.Scheme != "unix" || u.Path == "" || u.Host != "" {
		return "", fmt.Errorf("%s wants unix:///path/to/socket (a `locksmith serve --agent-socket PATH`), got %q", ServerEnv, v)
	}
	return u.Path, nil
}

// Conn is one end of an agent connection: JSON lines each way.
type Conn struct {
	C   *net.UnixConn
	Dec *json.Decoder // reads the other end's messages
	enc *json.Encoder
}

// NewConn wraps c.
func NewConn(c *net.UnixConn) *Conn {
	return &Conn{C: c, Dec: json.NewDecoder(c), enc: json.NewEncoder(c)}
}

// Send writes one message; the caller serialises sends.
func (a *Conn) Send(v any) error {
	if err := a.C.SetWriteDeadline(time.Now().Add(IOTimeout)); err != nil {
		return err
	}
	if err := a.enc.Encode(v); err != nil {
		return fmt.Errorf("write to agent connection: %w", err)
	}
	return nil
}

// Exit codes of Exec, as the CLI's.
const (
	ExitUsage     = 2  // usage errors
	ExitNotLocked = 75 // EX_TEMPFAIL: the lock was not obtained
)

// ExecOptions are what Exec needs besides the request and the command.
type ExecOptions struct {
	// Run configures how the command runs (runcmd.Run); Exec sets its
	// Mode, TTL, Guard and Signals.
	Run runcmd.Options
}
