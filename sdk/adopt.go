package sdk

import (
	"context"
	"os"
	"time"
)

// SessionAdopter is implemented by a backend whose sessions can outlive the
// plugin process that opened them. When a plugin process crashes, the host
// restarts it and hands each of its live sessions to the new process with
// AdoptSession, so a crash costs a restart, not the leases. A backend that
// implements it announces CapAdopt in its Info.
type SessionAdopter interface {
	// AdoptSession takes over session id, opened by an earlier process of
	// this plugin, and restarts its TTL: from then on the session is kept
	// alive, revoked and expired exactly like one this process opened,
	// and the sdk revokes it when the process stops. Its entries stay as
	// they are. anchor is the session's Anchor as the host held it (nil
	// for a backend that gives none); the caller keeps owning it, so a
	// backend that needs it after the call keeps a duplicate. An unknown,
	// revoked or expired session, or an anchor that is not the session's,
	// gives ErrSessionExpired.
	AdoptSession(ctx context.Context, id string, ttl time.Duration, anchor *os.File) (Session, error)
}
