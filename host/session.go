package host

import (
	"context"
	"errors"
	"fmt"
	"os"
	"sync"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/locksmithx/locksmith/sdk"
)

// retryRenew is how soon a failed renewal is tried again.
const retryRenew = 200 * time.Millisecond

// exitWait bounds how long a call that failed on an unreachable plugin
// waits to learn whether the plugin process exited (the supervisor polls
// every exitPoll), before the failure counts as the store's.
const exitWait = 500 * time.Millisecond

// session is the host's one session on a backend. Renewal is per session,
// never per lock: one KeepAlive every TTL/3 covers every lease the session
// holds.
//
// The host gives a session up when it has not been renewed for 2/3 of its
// TTL, a third of the TTL before the store would expire it, so that a
// holder told of the loss (exec's child, say) can stop while the lock is
// still its own.
//
// A session belongs to the host, not to the plugin process serving it.
// When that process exits and the backend can adopt sessions (CapAdopt),
// the session is suspended, not lost: the supervisor restarts the plugin,
// the session hands the new process its anchor and adopts itself there,
// and calls that failed on the dead process are retried on the new one.
// If adoption has not succeeded by the give-up time, or fails, the session
// is lost. A lost session keeps its anchor for a grace of TTL/3 (or until
// every lease on it has ended), as long as the store would have kept it,
// so that its holders can stop before another process can take their
// locks.
type session struct {
	id  string
	sup *supervisor
	log hclog.Logger

	renewed func(time.Duration) // told how long each renewal took, if set

	ctx    context.Context // cancelled, with the cause, when the session ends
	cancel context.CancelCauseFunc
	done   chan struct{} // closed when the keeper has stopped

	mu      sync.Mutex
	gen     *generation   // the plugin process serving the session now
	moved   chan struct{} // closed when the session moves to another generation
	ttl     time.Duration
	anchor  *os.File  // the session's anchor, or nil
	leases  int       // leases on the session that have not ended
	first   *Lease    // those leases, linked through Lease.prev/next
	lossRun bool      // the session has ended and its leases were told
	dropped bool      // the anchor is closed
	lostAt  time.Time // when the session was lost; zero while it lives

	local handoffs // the session's waiters, handed the queue by its releases
}

// errSessionClosed is the cause of a session ended by its host on purpose.
var errSessionClosed = errors.New("session closed")

func openSession(ctx context.Context, sup *supervisor, g *generation, ttl time.Duration, meta map[string]string, log hclog.Logger, renewed func(time.Duration)) (*session, error) {
	s, err := g.backend.OpenSession(ctx, ttl, meta)
	if err != nil {
		return nil, backendErr("open session", err)
	}
	sctx, cancel := context.WithCancelCause(context.Background())
	sess := &session{id: s.ID, ttl: s.TTL, sup: sup, gen: g, anchor: s.Anchor, log: log, renewed: renewed,
		ctx: sctx, cancel: cancel, done: make(chan struct{}), moved: make(chan struct{})}
	if sess.ttl <= 0 {
		sess.ttl = ttl
	}
	context.AfterFunc(sctx, sess.leasesEnded)
	go sess.keep()
	return sess, nil
}

// alive reports whether the session still holds.
func (s *session) alive() bool { return s.ctx.Err() == nil }

// current returns the generation serving the session now.
func (s *session) current() *generation {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.gen
}

// backend is the backend serving the session now.
func (s *session) backend() sdk.Backend { return s.current().backend }

// call runs op on the generation serving the session. If op fails because
// that plugin process died and the session can be adopted, call waits
// until the session lives on the restarted process and runs op again
// there, with retry set, until ctx ends or the session does.
func (s *session) call(ctx context.Context, op func(be sdk.Backend, retry bool) error) error {
	return s.callOn(ctx, func(g *generation, retry bool) error { return op(g.backend, retry) })
}

// callOn is call, with op given the generation itself (for its coalesced
// writes, generation.put and generation.delete).
func (s *session) callOn(ctx context.Context, op func(g *generation, retry bool) error) error {
	retry := false
	for {
		g := s.current()
		err := op(g, retry)
		if err == nil || !s.movable(ctx, g, err) {
			return err
		}
		retry = true
	}
}

// movable reports, after err from a call on g, whether the call should be
// retried: g's process has exited and the session has moved to another.
// When g exited and the session cannot move (the backend cannot adopt, or
// adoption failed), it returns false once the session has ended, so the
// caller reports the loss rather than the broken call.
func (s *session) movable(ctx context.Context, g *generation, err error) bool {
	if ctx.Err() != nil || !s.alive() || sdk.CodeOf(err) != sdk.CodeUnavailable {
		return false
	}
	if !g.waitExited(ctx, exitWait) {
		return false
	}
	return s.awaitMove(ctx, g)
}

// awaitMove waits until the session is served by a generation other than
// g; false when ctx or the session ends first.
func (s *session) awaitMove(ctx context.Context, g *generation) bool {
	for {
		s.mu.Lock()
		cur, moved := s.gen, s.moved
		s.mu.Unlock()
		if cur != g {
			return true
		}
		select {
		case <-moved:
		case <-s.ctx.Done():
			return false
		case <-ctx.Done():
			return false
		}
	}
}

// keep renews the session until it ends, and adopts it on a restarted
// plugin when the one serving it exits.
func (s *session) keep() {
	defer close(s.done)
	lastOK := time.Now()
	timer := time.NewTimer(s.ttlNow() / 3)
	defer timer.Stop()
	for {
		g := s.current()
		select {
		case <-s.ctx.Done():
			return
		case <-g.exited:
			if !s.suspend(g, lastOK) {
				return
			}
			lastOK = time.Now()
			timer.Reset(s.ttlNow() / 3)
			continue
		case <-timer.C:
		}
		giveUp := lastOK.Add(s.ttlNow() * 2 / 3)
		ctx, cancel := context.WithDeadline(s.ctx, giveUp)
		start := time.Now()
		ttl, err := g.backend.KeepAlive(ctx, s.id)
		cancel()
		if err == nil && s.renewed != nil {
			s.renewed(time.Since(start))
		}
		switch {
		case err == nil:
			lastOK = time.Now()
			s.setTTL(ttl)
			timer.Reset(s.ttlNow() / 3)
		case s.ctx.Err() != nil:
			return
		case g.info.Has(sdk.CapAdopt) && errors.Is(err, sdk.ErrUnavailable) && g.waitExited(s.ctx, exitWait):
			// The renewal failed because the plugin died (its stream
			// broke): the exit branch above adopts the session on its
			// successor. An expiry the plugin reported is lost at once.
			timer.Reset(0)
		case errors.Is(err, sdk.ErrSessionExpired):
			s.lose(fmt.Errorf("session %s expired: %w", s.id, err))
			return
		case sdk.CodeOf(err) != sdk.CodeUnavailable && !errors.Is(err, context.DeadlineExceeded):
			// Only an unreachable backend may pass: any other answer
			// (corrupt state, an invalid request, an unknown error) says
			// the store cannot vouch for the session, so it ends now
			// rather than live on until the retries give up.
			s.lose(fmt.Errorf("session %s not renewed: %w", s.id, err))
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

// suspend handles the exit of g, the process serving the session: it
// adopts the session on the restarted plugin, or loses it. It reports
// whether the session lives on.
func (s *session) suspend(g *generation, lastOK time.Time) bool {
	if !g.info.Has(sdk.CapAdopt) {
		s.lose(fmt.Errorf("%w: plugin exited", ErrBackendUnavailable))
		return false
	}
	giveUp := lastOK.Add(s.ttlNow() * 2 / 3)
	ctx, cancel := context.WithDeadline(s.ctx, giveUp)
	defer cancel()
	s.log.Warn("plugin exited; adopting the session on its restart", "session", s.id)
	for {
		next, err := s.sup.next(ctx, g)
		if err != nil {
			if s.ctx.Err() != nil {
				return false
			}
			s.lose(fmt.Errorf("%w: plugin exited and was not back within %s: %w", ErrBackendUnavailable, time.Since(lastOK).Round(time.Millisecond), err))
			return false
		}
		ad, ok := next.backend.(sdk.SessionAdopter)
		if !ok || !next.info.Has(sdk.CapAdopt) {
			s.lose(fmt.Errorf("%w: plugin exited and its restart cannot adopt session %s", ErrBackendUnavailable, s.id))
			return false
		}
		s.mu.Lock()
		anchor, ttl := s.anchor, s.ttl
		s.mu.Unlock()
		res, err := ad.AdoptSession(ctx, s.id, ttl, anchor)
		if err != nil {
			if s.ctx.Err() != nil {
				return false
			}
			if next.waitExited(ctx, exitWait) && ctx.Err() == nil {
				g = next // it crashed again: adopt on the next one
				continue
			}
			if errors.Is(err, sdk.ErrSessionExpired) {
				s.lose(fmt.Errorf("plugin exited and session %s expired before its restart could adopt it: %w", s.id, err))
			} else {
				s.lose(fmt.Errorf("%w: plugin exited; adopting session %s on its restart failed: %w", ErrBackendUnavailable, s.id, err))
			}
			return false
		}
		s.mu.Lock()
		s.gen = next
		if res.TTL > 0 {
			s.ttl = res.TTL
		}
		close(s.moved)
		s.moved = make(chan struct{})
		s.mu.Unlock()
		s.log.Info("session adopted by the restarted plugin", "session", s.id, "pid", next.conn.Pid(), "since_renewal", time.Since(lastOK).Round(time.Millisecond))
		return true
	}
}

func (s *session) ttlNow() time.Duration {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.ttl
}

func (s *session) setTTL(ttl time.Duration) {
	if ttl <= 0 {
		return
	}
	s.mu.Lock()
	s.ttl = ttl
	s.mu.Unlock()
}

// lose ends the session with cause: every lease on it is lost. Its anchor
// is kept for TTL/3, or until every lease on it has ended.
func (s *session) lose(cause error) {
	if s.ctx.Err() != nil {
		return
	}
	s.log.Error("session lost; its locks are lost", "session", s.id, "cause", cause)
	s.mu.Lock()
	s.lostAt = time.Now()
	none := s.leases == 0
	grace := s.ttl / 3
	s.mu.Unlock()
	s.cancel(cause)
	if none {
		s.dropAnchor()
		return
	}
	time.AfterFunc(grace, s.dropAnchor)
}

// leaseStarted and leaseEnded keep the session's list of leases: a lost
// session's anchor goes as soon as the last of them has ended, and when
// the session ends each is told (Lease.sessionEnded). One list per
// session, not a goroutine or a context callback per lease, keeps a held
// lock's memory small.
func (s *session) leaseStarted(l *Lease) {
	s.mu.Lock()
	s.leases++
	l.next = s.first
	if s.first != nil {
		s.first.prev = l
	}
	s.first = l
	ended := s.lossRun
	s.mu.Unlock()
	if ended {
		go l.sessionEnded(s)
	}
}

func (s *session) leaseEnded(l *Lease) {
	s.mu.Lock()
	s.leases--
	if l.prev != nil {
		l.prev.next = l.next
	} else if s.first == l {
		s.first = l.next
	}
	if l.next != nil {
		l.next.prev = l.prev
	}
	l.prev, l.next = nil, nil
	last := s.leases == 0
	s.mu.Unlock()
	if last && !s.alive() {
		s.dropAnchor()
	}
}

// leasesEnded tells every lease on the session that it has ended; it runs
// once, when the session's context is cancelled.
func (s *session) leasesEnded() {
	s.mu.Lock()
	s.lossRun = true
	var ls []*Lease
	for l := s.first; l != nil; l = l.next {
		ls = append(ls, l)
	}
	s.mu.Unlock()
	for _, l := range ls {
		go l.sessionEnded(s)
	}
}

// dropAnchor closes the session's anchor, if it has one. It can safely be
// called more than once.
func (s *session) dropAnchor() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.dropped {
		return
	}
	s.dropped = true
	if s.anchor != nil {
		_ = s.anchor.Close()
	}
}

// close ends the session on purpose, revokes it in the store and closes
// its anchor.
func (s *session) close(ctx context.Context) error {
	s.cancel(errSessionClosed)
	<-s.done
	err := s.current().backend.Revoke(ctx, s.id)
	s.dropAnchor()
	return backendErr("revoke session", err)
}
