package host

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/locksmithx/locksmith/sdk"
)

// errReleased is the cause of a lease's context after Release.
var errReleased = errors.New("lease released")

// Lease is a granted lock. It stays held until Release, or until it is
// lost: its session could not be renewed in time, or the backend or its
// plugin went away. Loss cancels Context and Lost says why. A Lease is safe
// for concurrent use.
type Lease struct {
	h        *Host
	sess     *session
	slot     *backendSlot // the backend that granted the lease
	pinned   bool         // slot was the request's default backend (see plan)
	resource string
	key      string
	token    int64
	owner    *Owner
	acquired time.Time

	ctx    context.Context
	cancel context.CancelCauseFunc

	convMu    sync.Mutex // serialises conversions
	mu        sync.Mutex // guards the fields below; never held while waiting
	mode      Mode
	info      requestInfo // as stored in the entry
	modRev    int64
	lost      []lostWrite // writes of the entry that may still land (see takeLostLocked)
	ended     bool
	ancestors []*Lease // intention locks of a hierarchical lease, root first
	bridges   []*Lease // the same lock on other backends, held with it (see plan)

	onLost     func(error) // the caller's OnLost, or nil
	prev, next *Lease      // the session's list of its leases; sess.mu guards
	lossRun    bool        // loss handled (see lose); mu guards
	unheld     bool        // slot unheld (see unholdLocked); mu guards
}

func newLease(h *Host, s *session, resource, key string, mode Mode, token, modRev int64, info requestInfo, owner *Owner, onLost func(error)) *Lease {
	// The lease's context is not the session's child, so that Migrate can
	// move it to another session: it follows the session it is on.
	ctx, cancel := context.WithCancelCause(context.Background())
	l := &Lease{h: h, sess: s, resource: resource, key: key, mode: mode, token: token, owner: owner,
		acquired: time.Now(), ctx: ctx, cancel: cancel, modRev: modRev, info: info, onLost: onLost}
	s.leaseStarted(l)
	return l
}

// sessionEnded runs when session s has ended: if the lease is still on s,
// it is lost with s's cause (or ends with the host, when s was closed).
// The session calls it once per lease on its list.
func (l *Lease) sessionEnded(s *session) {
	l.mu.Lock()
	on := l.sess == s
	l.mu.Unlock()
	if on {
		l.lose(context.Cause(s.ctx))
	}
}

// lose ends the lease with cause, unless it ended already. If that lost
// it (rather than its host closing), the host forgets it, withdraws what
// it still holds, says so in an event and calls OnLost. It runs once.
func (l *Lease) lose(cause error) {
	l.cancel(cause)
	l.mu.Lock()
	l.unholdLocked()
	l.mu.Unlock()
	err := l.Lost()
	if err == nil {
		return
	}
	l.mu.Lock()
	if l.lossRun {
		l.mu.Unlock()
		return
	}
	l.lossRun = true
	bridges, sess, res, key, rev, tok, mode := l.bridges, l.sess, l.resource, l.key, l.modRev, l.token, l.mode
	l.bridges = nil
	l.mu.Unlock()
	_ = releaseAll(bridges)
	if sess.alive() {
		// Lost with a lock it held on another backend (a bridge), its
		// own entry still stands: withdraw it, so that it blocks no one.
		l.h.withdraw(sess, res, key, rev)
	}
	l.h.forget(l)
	l.h.graph.disown(key)
	l.h.note(Event{Kind: EventLost, Resource: res, Mode: mode, Token: tok, Held: time.Since(l.acquired), Err: err})
	if l.onLost != nil {
		l.onLost(err)
	}
}

// Resource is the locked resource's key.
func (l *Lease) Resource() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.resource
}

// Mode is the mode the lease holds now.
func (l *Lease) Mode() Mode {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.mode
}

// Token is the lease's fencing token: it strictly increases across the
// grants of one resource, so a protected resource can refuse writes that
// carry a token lower than one it has seen. A conversion keeps it.
func (l *Lease) Token() int64 {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.token
}

// Session is the id of the backend session the lease belongs to.
func (l *Lease) Session() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.sess.id
}

// Backend names the backend that granted the lease (and whose Token it
// reports). It holds the lease until Release or Migrate, whatever the
// host's config says meanwhile.
func (l *Lease) Backend() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.slot.name
}

// Bridges names the other backends the lease also holds its lock on (see
// WithBackend and the migration mode of docs/operations.md), in the order
// they were taken; none for most leases.
func (l *Lease) Bridges() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	out := make([]string, len(l.bridges))
	for i, b := range l.bridges {
		out[i] = b.slot.name
	}
	return out
}

// bridge makes bs part of the lease: they are released with it, and the
// loss of any of them is the lease's loss.
func (l *Lease) bridge(bs []*Lease) {
	l.mu.Lock()
	l.bridges = bs
	l.mu.Unlock()
	for _, b := range bs {
		context.AfterFunc(b.ctx, func() {
			if err := b.Lost(); err != nil {
				l.lose(fmt.Errorf("its lock on backend %s: %w", b.slot.name, context.Cause(b.ctx)))
			}
		})
	}
}

// Acquired is when the lease was granted.
func (l *Lease) Acquired() time.Time { return l.acquired }

// Context is cancelled when the lease ends, by Release or by loss. Work
// done under the lock should use it.
func (l *Lease) Context() context.Context { return l.ctx }

// Done is closed when the lease ends.
func (l *Lease) Done() <-chan struct{} { return l.ctx.Done() }

// Lost returns nil while the lease is held or after Release, and otherwise
// why it was lost: an error wrapping ErrLost and the cause (for example
// ErrBackendUnavailable).
func (l *Lease) Lost() error {
	if l.ctx.Err() == nil {
		return nil
	}
	cause := context.Cause(l.ctx)
	if errors.Is(cause, errReleased) || errors.Is(cause, errSessionClosed) {
		return nil
	}
	return fmt.Errorf("%w: %s: %w", ErrLost, l.resource, cause)
}

// Release gives the lock up. It deletes exactly this grant (naming its
// revision, so a retried release can never delete a newer holder). Release
// of a lost or already released lease returns an error wrapping ErrNotHeld
// (and, for a lost one, the cause of the loss).
func (l *Lease) Release(ctx context.Context) error {
	return l.h.intercept(ctx, sdk.OpRelease, l.resource, l.Mode(), nil, func(map[string]string) (int64, error) {
		return l.token, l.releaseAll(ctx)
	})
}

// releaseAll releases the lease, then its ancestors.
func (l *Lease) releaseAll(ctx context.Context) error {
	err := l.release(ctx)
	if err != nil && !errors.Is(err, ErrNotHeld) {
		// The leaf may still be held: its ancestors' intention locks
		// must stay, or a lock above could be granted over it.
		return err
	}
	l.mu.Lock()
	ancestors, bridges := l.ancestors, l.bridges
	l.ancestors, l.bridges = nil, nil
	l.mu.Unlock()
	if berr := releaseAll(bridges); berr != nil && err == nil {
		err = berr
	}
	if aerr := releaseAll(ancestors); aerr != nil && err == nil {
		err = aerr
	}
	return err
}

func (l *Lease) release(ctx context.Context) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.ended {
		return fmt.Errorf("release %s: %w", l.resource, ErrNotHeld)
	}
	if err := l.Lost(); err != nil {
		l.ended = true
		l.sess.leaseEnded(l)
		return fmt.Errorf("release %s: %w: %w", l.resource, ErrNotHeld, err)
	}
	retried := false
	// With waiters of its own on the resource, the session asks for the
	// queue left after the delete, and hands it to them.
	local := l.sess.local.waiting(l.resource)
	err := l.sess.callOn(ctx, func(g *generation, retry bool) error {
		retried = retry
		d, err := g.delete(ctx, sdk.DeleteRequest{Resource: l.resource, Key: l.key, ExpectRev: l.modRev, WithRange: local})
		if err == nil && local && len(d.Entries) > 0 {
			l.sess.local.hand(l.resource, d.Rev, newQueue(d.Entries), l.key)
		}
		return err
	})
	if errors.Is(err, sdk.ErrRevMismatch) && l.takeLostLocked(ctx) {
		// A write whose answer was lost landed after all: delete the
		// entry at the revision it wrote.
		err = l.sess.callOn(ctx, func(g *generation, retry bool) error {
			retried = retry
			_, err := g.delete(ctx, sdk.DeleteRequest{Resource: l.resource, Key: l.key, ExpectRev: l.modRev})
			return err
		})
	}
	switch {
	case err == nil, retried && errors.Is(err, sdk.ErrNotFound):
		// A retried delete that finds nothing: the first attempt
		// reached the store before its plugin died.
		l.end(errReleased)
		return nil
	case errors.Is(err, sdk.ErrNotFound):
		l.end(errReleased)
		return fmt.Errorf("release %s: %w: its entry was already gone", l.resource, ErrNotHeld)
	case errors.Is(err, sdk.ErrRevMismatch):
		l.end(errReleased)
		return fmt.Errorf("release %s: %w: entry changed under the lease: %w", l.resource, ErrNotHeld, err)
	}
	return backendErr("release "+l.resource, err)
}

// end marks the lease over; l.mu is held.
func (l *Lease) end(cause error) {
	l.ended = true
	l.sess.leaseEnded(l)
	l.cancel(cause)
	l.unholdLocked()
	l.h.forget(l)
	l.h.graph.disown(l.key)
	l.h.note(Event{Kind: EventReleased, Resource: l.resource, Mode: l.mode, Token: l.token, Held: time.Since(l.acquired)})
}

// unholdLocked lets go, once, of the backend slot the lease is on when it
// ends: a retired slot closes when its last lease has let go. It runs on
// the lease's end rather than as a callback on its context, which would
// cost every held lock a registration. l.mu is held.
func (l *Lease) unholdLocked() {
	if l.unheld || l.slot == nil {
		return
	}
	l.unheld = true
	go l.h.unhold(l.slot, l.pinned)
}
