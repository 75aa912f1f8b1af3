package host

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strconv"
	"time"

	"github.com/locksmithx/locksmith/sdk"
)

// Target is where Lease.Migrate moves a lock: a backend the host's config
// runs, a resource key (see FileResource and NamedResource), or both. An
// empty field keeps the lease's own.
type Target struct {
	Backend  string
	Resource string
}

// Migrate moves the held lock to, make-before-break: it takes the lock at
// the target first, in the lease's mode, waiting for it as a lock request
// does (within ctx, in FIFO order), and only then releases the source,
// along with any lock the lease held on other backends (Bridges). The
// lease stays the same: its Context stays alive throughout, and from then
// on Backend, Resource and Token are the target's (the token is the
// target's fencing token). Middleware sees the target's acquire; an
// EventMigrated reports the move.
//
// If the target cannot be had — its backend is unreachable or not
// running, the lock is held there, ctx ends — the lease keeps its source
// lock, untouched, and the error says why, wrapping the cause
// (ErrBackendUnavailable, ErrTimeout at ctx's deadline, ErrDeadlock,
// ErrInvalidArgument for a backend the config does not run, …). Should the source not let go, the target is
// released and the lease stays where it was. A hierarchical lease cannot
// be migrated (its intention locks would stay behind): release it and lock
// again. Migrate waits for a conversion in progress and blocks others
// while it runs.
func (l *Lease) Migrate(ctx context.Context, to Target) error {
	l.convMu.Lock()
	defer l.convMu.Unlock()
	l.mu.Lock()
	ended, from, fromRes, mode, info, ancestors := l.ended, l.slot, l.resource, l.mode, l.info, len(l.ancestors)
	l.mu.Unlock()
	what := fmt.Sprintf("migrate %s on %s", fromRes, from.name)
	if ended {
		return fmt.Errorf("%s: %w", what, ErrNotHeld)
	}
	if err := l.Lost(); err != nil {
		return fmt.Errorf("%s: %w: %w", what, ErrNotHeld, err)
	}
	if ancestors > 0 {
		return fmt.Errorf("%s: %w: a hierarchical lease cannot move; release it and lock again", what, ErrInvalidArgument)
	}
	slot := from
	if to.Backend != "" && to.Backend != from.name {
		var err error
		if slot, err = l.h.pipe.Load().slotNamed(to.Backend); err != nil {
			return fmt.Errorf("%s: %w", what, err)
		}
	}
	resource := fromRes
	if to.Resource != "" {
		resource = to.Resource
	}
	what = fmt.Sprintf("%s to %s on %s", what, resource, slot.name)
	if slot == from && resource == fromRes {
		return fmt.Errorf("%s: %w: the target is where the lease is", what, ErrInvalidArgument)
	}
	kept := fmt.Sprintf("; the lock on %s stays held", fromRes)

	var (
		s   *session
		key string
		g   grant
	)
	if !l.h.tryHold(slot, false) {
		return fmt.Errorf("%s: backend %s: %w%s", what, slot.name, ErrClosed, kept)
	}
	err := l.h.intercept(ctx, sdk.OpAcquire, resource, mode, info.Meta, func(meta map[string]string) (int64, error) {
		var err error
		if s, err = l.h.sessionOn(ctx, slot); err != nil {
			return 0, err
		}
		key = s.id + "/" + l.h.prefix + "-" + strconv.FormatUint(l.h.reqSeq.Add(1), 10)
		hostname, _ := os.Hostname()
		tinfo := requestInfo{Mode: mode.String(), Limit: info.Limit, PID: os.Getpid(), Host: hostname,
			Created: time.Now().UnixNano(), Meta: meta}
		l.h.graph.own(key, l.owner)
		if g, err = l.h.acquire(ctx, s, resource, key, tinfo, lockOptions{mode: mode, owner: l.owner, limit: info.Limit}); err != nil {
			l.h.graph.disown(key)
			return 0, err
		}
		info = tinfo
		return g.createRev, nil
	})
	if err != nil {
		l.h.unhold(slot, false)
		return fmt.Errorf("%s: %w%s", what, err, kept)
	}

	// The target is held: let the source go.
	l.mu.Lock()
	l.takeLostLocked(context.Background()) // delete at the revision that landed
	oldSess, oldKey, oldRev, pinned, bridges := l.sess, l.key, l.modRev, l.pinned, l.bridges
	l.mu.Unlock()
	rctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	derr := oldSess.call(rctx, func(be sdk.Backend, _ bool) error {
		_, err := be.Delete(rctx, sdk.DeleteRequest{Resource: fromRes, Key: oldKey, ExpectRev: oldRev})
		return err
	})
	if derr != nil && !errors.Is(derr, sdk.ErrNotFound) {
		l.h.withdraw(s, resource, key, g.modRev)
		l.h.graph.disown(key)
		l.h.unhold(slot, false)
		return fmt.Errorf("%s: %w%s", what, backendErr("release "+fromRes, derr), kept)
	}
	if errors.Is(derr, sdk.ErrNotFound) {
		// The source went while the target was taken: the lease was
		// lost meanwhile (its context says so), or will be.
		l.h.withdraw(s, resource, key, g.modRev)
		l.h.graph.disown(key)
		l.h.unhold(slot, false)
		return fmt.Errorf("%s: %w: the source entry was gone", what, ErrNotHeld)
	}

	l.mu.Lock()
	l.sess, l.slot, l.resource, l.key, l.token, l.modRev, l.info, l.pinned = s, slot, resource, key, g.createRev, g.modRev, info, false
	l.lost = nil
	l.bridges = nil
	l.mu.Unlock()
	// From here the old session's end no longer concerns the lease
	// (sessionEnded checks which session it is on); the new one's does.
	oldSess.leaseEnded(l)
	s.leaseStarted(l)
	l.h.graph.disown(oldKey)
	l.h.unhold(from, pinned)
	_ = releaseAll(bridges)
	l.h.note(Event{Kind: EventMigrated, Resource: resource, Mode: mode, Token: g.createRev, Plugin: slot.name})
	return nil
}
