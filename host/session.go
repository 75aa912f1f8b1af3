package host

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/locksmithx/locksmith/sdk"
)

// retryRenew is how soon a failed renewal is tried again.
const retryRenew = 200 * time.Millisecond

// session is the host's one session on a backend generation. Renewal is
// per session, never per lock: one KeepAlive every TTL/3 covers every
// lease the session holds.
//
// The host gives a session up when it has not been renewed for 2/3 of its
// TTL, a third of the TTL before the store would expire it, so that a
// holder told of the loss (exec's child, say) can stop while the lock is
// still its own.
type session struct {
	id  string
	ttl time.Duration
	gen *generation
	log hclog.Logger

	ctx    context.Context // cancelled, with the cause, when the session ends
	cancel context.CancelCauseFunc
	done   chan struct{} // closed when the keeper has stopped
}

// errSessionClosed is the cause of a session ended by its host on purpose.
var errSessionClosed = errors.New("session closed")

func openSession(ctx context.Context, g *generation, ttl time.Duration, meta map[string]string, log hclog.Logger) (*session, error) {
	s, err := g.backend.OpenSession(ctx, ttl, meta)
	if err != nil {
		return nil, backendErr("open session", err)
	}
	sctx, cancel := context.WithCancelCause(context.Background())
	sess := &session{id: s.ID, ttl: s.TTL, gen: g, log: log, ctx: sctx, cancel: cancel, done: make(chan struct{})}
	if sess.ttl <= 0 {
		sess.ttl = ttl
	}
	go sess.keep()
	return sess, nil
}

// alive reports whether the session still holds.
func (s *session) alive() bool { return s.ctx.Err() == nil }

// keep renews the session until it ends.
func (s *session) keep() {
	defer close(s.done)
	lastOK := time.Now()
	timer := time.NewTimer(s.ttl / 3)
	defer timer.Stop()
	for {
		select {
		case <-s.ctx.Done():
			return
		case <-s.gen.exited:
			s.lose(fmt.Errorf("%w: plugin exited", ErrBackendUnavailable))
			return
		case <-timer.C:
		}
		giveUp := lastOK.Add(s.ttl * 2 / 3)
		ctx, cancel := context.WithDeadline(s.ctx, giveUp)
		ttl, err := s.gen.backend.KeepAlive(ctx, s.id)
		cancel()
		switch {
		case err == nil:
			lastOK = time.Now()
			if ttl > 0 {
				s.ttl = ttl
			}
			timer.Reset(s.ttl / 3)
		case s.ctx.Err() != nil:
			return
		case errors.Is(err, sdk.ErrSessionExpired):
			s.lose(fmt.Errorf("session %s expired: %w", s.id, err))
			return
		case !time.Now().Before(giveUp):
			s.lose(fmt.Errorf("%w: session %s not renewed for %s: %w", ErrBackendUnavailable, s.id, time.Since(lastOK).Round(time.Millisecond), err))
			return
		default:
			s.log.Warn("session renewal failed; retrying", "session", s.id, "error", err)
			timer.Reset(min(retryRenew, time.Until(giveUp)))
		}
	}
}

// lose ends the session with cause: every lease on it is lost.
func (s *session) lose(cause error) {
	if s.ctx.Err() != nil {
		return
	}
	s.log.Error("session lost; its locks are lost", "session", s.id, "cause", cause)
	s.cancel(cause)
}

// close ends the session on purpose and revokes it in the store.
func (s *session) close(ctx context.Context) error {
	s.cancel(errSessionClosed)
	<-s.done
	return backendErr("revoke session", s.gen.backend.Revoke(ctx, s.id))
}
