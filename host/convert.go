package host

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/locksmithx/locksmith/sdk"
)

// maxConvertTries bounds how often a conversion re-reads a queue that kept
// changing under it.
const maxConvertTries = 50

// convertWithdrawTimeout bounds the write that withdraws a failed upgrade.
const convertWithdrawTimeout = 5 * time.Second

// weaker reports whether every mode compatible with from is compatible
// with to: converting from -> to never needs to wait (a downgrade).
func weaker(from, to Mode) bool {
	for m := IntentShared; m <= Exclusive; m++ {
		if Compatible(from, m) && !Compatible(to, m) {
			return false
		}
	}
	return true
}

// Convert changes the lease's mode in place. The holder never lets go in
// between, keeps its place in the queue and its fencing token.
//
// A downgrade (to a mode compatible with everything the old one was, as
// X->S, X->U, U->S) never waits. An upgrade waits only for the granted
// requests it conflicts with, ahead of or behind it, and goes before every
// waiting request; while it waits, new requests are checked against the
// new mode too, so they cannot starve it. An upgrade that could never be
// granted — two shared holders both upgrading — fails at once for the
// later one with ErrDeadlock, which keeps its old mode; the other upgrades
// when it lets go. If ctx ends first, the upgrade is withdrawn and the
// lease keeps its old mode (ErrTimeout on a deadline). An upgrade that
// finds the queue changed every time it tries to record itself gives up
// with ErrConflict and also keeps the old mode: the lease stays held and
// the upgrade can be tried again.
func (l *Lease) Convert(ctx context.Context, to Mode) error {
	if !to.valid() {
		return fmt.Errorf("%w: lock mode %d", ErrInvalidConfig, to)
	}
	return l.h.intercept(ctx, sdk.OpConvert, l.resource, to, nil, func(map[string]string) (int64, error) {
		return l.token, l.convert(ctx, to)
	})
}

func (l *Lease) convert(ctx context.Context, to Mode) error {
	// One conversion at a time; l.mu itself is only held for moments, so
	// Mode, Release and the host's Close never wait for an upgrade.
	l.convMu.Lock()
	defer l.convMu.Unlock()
	l.mu.Lock()
	ended, from, ancestors, bridges := l.ended, l.mode, l.ancestors, l.bridges
	l.mu.Unlock()
	if ended {
		return fmt.Errorf("convert %s: %w", l.resource, ErrNotHeld)
	}
	if err := l.Lost(); err != nil {
		return fmt.Errorf("convert %s: %w: %w", l.resource, ErrNotHeld, err)
	}
	if to == from {
		return nil
	}
	var err error
	intent := intentionFor(to)
	if weaker(from, to) {
		err = l.downgrade(ctx, to)
		// The lock on other backends follows, so it never excludes less.
		for _, b := range bridges {
			if err == nil {
				err = b.convert(ctx, to)
			}
		}
		// A hierarchical lease loosens its ancestors after itself,
		// nearest first.
		for i := len(ancestors) - 1; i >= 0 && err == nil; i-- {
			if a := ancestors[i]; a.Mode() != intent && weaker(a.Mode(), intent) {
				err = a.Convert(ctx, intent)
			}
		}
	} else {
		// ... and strengthens them before itself, root first.
		for _, a := range ancestors {
			if a.Mode() != intent && !weaker(a.Mode(), intent) {
				if err = a.Convert(ctx, intent); err != nil {
					return err
				}
			}
		}
		// The lock on other backends goes first; should the upgrade fail,
		// it returns to its old mode (a downgrade never waits).
		for i, b := range bridges {
			if err = b.convert(ctx, to); err != nil {
				revert(bridges[:i], from)
				return err
			}
		}
		if err = l.upgrade(ctx, to); err != nil {
			revert(bridges, from)
		}
	}
	if err != nil {
		return err
	}
	l.h.note(Event{Kind: EventConverted, Resource: l.resource, Mode: to, Token: l.token})
	return nil
}

// Upgrade converts the lease to Exclusive (write).
func (l *Lease) Upgrade(ctx context.Context) error { return l.Convert(ctx, Exclusive) }

// Downgrade converts the lease to Shared (read); it never waits.
func (l *Lease) Downgrade(ctx context.Context) error { return l.Convert(ctx, Shared) }

// CanUpgrade reports whether an upgrade to Exclusive would be granted now,
// without waiting. The answer may be stale by the time it is used.
func (l *Lease) CanUpgrade(ctx context.Context) (bool, error) {
	l.mu.Lock()
	ended := l.ended
	l.mu.Unlock()
	if ended || l.Lost() != nil {
		return false, fmt.Errorf("can upgrade %s: %w", l.resource, ErrNotHeld)
	}
	r, err := l.sess.backend().Range(ctx, l.resource)
	if err != nil {
		return false, backendErr("can upgrade "+l.resource, err)
	}
	q := newQueue(r.Entries)
	p := q.index(l.key)
	if p < 0 {
		return false, fmt.Errorf("can upgrade %s: %w: its entry is gone", l.resource, ErrNotHeld)
	}
	blockers, dead := q.upgradeBlockers(p, Exclusive)
	return dead == nil && len(blockers) == 0, nil
}

// store writes the lease's entry as info, guarded by the resource revision
// guard when non-zero, and on success takes mode (if non-zero) as the
// lease's mode. It holds l.mu for the one call, so that a Release cannot
// name a revision the write is replacing.
func (l *Lease) store(ctx context.Context, info requestInfo, guard int64, mode Mode) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.ended {
		return fmt.Errorf("convert %s: %w", l.resource, ErrNotHeld)
	}
	value := encodeRequest(info)
	update := func() (sdk.UpdateResult, error) {
		return l.sess.backend().Update(ctx, sdk.UpdateRequest{Resource: l.resource, Key: l.key,
			Value: value, ExpectRev: l.modRev, ExpectResourceRev: guard})
	}
	r, err := update()
	if errors.Is(err, sdk.ErrRevMismatch) && l.takeLostLocked(ctx) {
		// A lost write landed after all, and the lease has taken it. A
		// write that changes no mode keeps the mode that landed, so that
		// the entry never says less than the lease holds.
		if mode == 0 && info.Mode != l.info.Mode {
			info.Mode = l.info.Mode
			value = encodeRequest(info)
		}
		r, err = update()
	}
	if err != nil {
		if ctxErr(err) || ctx.Err() != nil {
			// The answer was lost with the context, but the write may
			// have landed, or land later: remember it, so that the lease
			// never loses track of its own entry.
			l.lost = append(l.lost, lostWrite{value: value, info: info, mode: mode})
			l.takeLostLocked(context.Background())
		}
		return err
	}
	l.modRev, l.info, l.lost = r.ModRev, info, nil
	if mode != 0 {
		l.mode = mode
	}
	return nil
}

// lostWrite is a write of the lease's entry whose answer was lost: the
// backend may have applied it, or may still apply it.
type lostWrite struct {
	value []byte
	info  requestInfo
	mode  Mode
}

// takeLostLocked reads the lease's entry back and, if it holds exactly
// what one of the lease's lost writes wrote, takes that write as landed:
// its revision, value and mode. Every lost write named the revision the
// lease still knows, and only the lease writes its entry, so at most one
// of them can have landed, and none once a later write succeeds. It
// reports whether it took one. l.mu is held.
func (l *Lease) takeLostLocked(ctx context.Context) bool {
	if len(l.lost) == 0 {
		return false
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), convertWithdrawTimeout)
	defer cancel()
	r, err := l.sess.backend().Range(ctx, l.resource)
	if err != nil {
		return false
	}
	for _, e := range r.Entries {
		if e.Key != l.key || e.ModRev == l.modRev {
			continue
		}
		for _, w := range l.lost {
			if bytes.Equal(e.Value, w.value) {
				l.modRev, l.info, l.lost = e.ModRev, w.info, nil
				if w.mode != 0 {
					l.mode = w.mode
				}
				return true
			}
		}
	}
	return false
}

// withdrawPending clears a pending upgrade the lease's entry may still
// show after a failed conversion, so that it holds nobody back.
func (l *Lease) withdrawPending() {
	l.mu.Lock()
	info, lost := l.info, len(l.lost) > 0
	l.mu.Unlock()
	if info.Target == "" && !lost {
		return
	}
	info.Target, info.Blockers = "", nil
	bg, cancel := context.WithTimeout(context.Background(), convertWithdrawTimeout)
	defer cancel()
	if err := l.store(bg, info, 0, 0); err != nil && !errors.Is(err, ErrNotHeld) && l.Lost() == nil {
		l.sess.lose(fmt.Errorf("withdraw upgrade of %s: %w", l.resource, err))
	}
}

// entryRev is the entry's revision as last written.
func (l *Lease) entryRev() int64 {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.modRev
}

// tookLost reports whether a lost write of the lease's entry has landed
// and the lease has taken it (see takeLostLocked).
func (l *Lease) tookLost(ctx context.Context) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.takeLostLocked(ctx)
}

// stored returns the entry's value as last written.
func (l *Lease) stored() requestInfo {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.info
}

func (l *Lease) downgrade(ctx context.Context, to Mode) error {
	info := l.stored()
	info.Mode, info.Target, info.Blockers = to.String(), "", nil
	if err := l.store(ctx, info, 0, to); err != nil {
		return l.convertErr(err)
	}
	return nil
}

func (l *Lease) upgrade(ctx context.Context, to Mode) error {
	be := l.sess.backend()
	for try := 0; ; try++ {
		r, err := be.Range(ctx, l.resource)
		if err != nil {
			if ctxErr(err) || ctx.Err() != nil {
				return waitErr(ctx, l.resource)
			}
			return backendErr("convert "+l.resource, err)
		}
		q := newQueue(r.Entries)
		p := q.index(l.key)
		if p < 0 {
			return fmt.Errorf("convert %s: %w: its entry is gone", l.resource, ErrNotHeld)
		}
		if rev := l.entryRev(); q[p].ModRev != rev {
			if try < maxConvertTries && l.tookLost(ctx) {
				continue // a lost write of the lease landed: read again
			}
			return fmt.Errorf("convert %s: %w: its entry changed under the lease (revision %d, the lease wrote %d)",
				l.resource, ErrNotHeld, q[p].ModRev, rev)
		}
		blockers, dead := q.upgradeBlockers(p, to)
		if dead != nil {
			return fmt.Errorf("convert %s to %s: %w: request %s is upgrading to %s and waits for this lease",
				l.resource, to, ErrDeadlock, dead.Key, dead.target)
		}
		info := l.stored()
		info.Pinned = true
		var now Mode
		if len(blockers) == 0 {
			info.Mode, info.Target, info.Blockers = to.String(), "", nil
			now = to
		} else {
			info.Target, info.Blockers = to.String(), blockers
		}
		err = l.store(ctx, info, r.Rev, now)
		if errors.Is(err, sdk.ErrRevMismatch) {
			// The queue changed since it was read (the entry itself did
			// not: that was checked above): decide again, a bounded
			// number of times. Nothing was written, so the lease still
			// holds its old mode.
			if try < maxConvertTries {
				continue
			}
			return fmt.Errorf("convert %s to %s: %w: the queue changed under each of %d tries; the lease still holds %s, try again",
				l.resource, to, ErrConflict, try+1, l.Mode())
		}
		if err != nil {
			if len(blockers) == 0 && l.Mode() == to {
				return nil // it landed; only the answer was lost
			}
			l.withdrawPending()
			if l.Mode() == to {
				return nil // a write of the upgrade landed late, and was taken
			}
			if ctxErr(err) || ctx.Err() != nil {
				return waitErr(ctx, l.resource)
			}
			return l.convertErr(err)
		}
		if len(blockers) == 0 {
			return nil
		}
		return l.awaitUpgrade(ctx, to, r.Rev+1, q, blockers)
	}
}

// awaitUpgrade waits for the upgrade's blockers to go, then completes it;
// if the wait fails, the upgrade is withdrawn and the old mode kept.
func (l *Lease) awaitUpgrade(ctx context.Context, to Mode, rev int64, q queue, blockers []string) error {
	wakeOn := func(q queue) []string {
		// The upgrade waits for every blocker to go or step down.
		keys := []string{l.key}
		for _, b := range blockers {
			if q.index(b) >= 0 {
				keys = append(keys, b)
			}
		}
		return keys
	}
	l.h.graph.started(l.key)
	_, err := l.h.follow(ctx, l.sess, l.resource, l.key, rev, q, wakeOn, func(q queue) (bool, error) {
		if q.index(l.key) < 0 {
			l.mu.Lock()
			ended := l.ended
			l.mu.Unlock()
			if ended {
				return false, fmt.Errorf("convert %s: %w: released while upgrading", l.resource, ErrNotHeld)
			}
			return false, fmt.Errorf("convert %s: %w: its entry is gone", l.resource, ErrLost)
		}
		// Wait only for blockers that still conflict: one that left, or
		// stepped down to a mode compatible with the target, no longer
		// holds the upgrade back.
		var waitingFor []string
		for _, b := range blockers {
			if i := q.index(b); i >= 0 && q.stillBlocks(i, to) {
				waitingFor = append(waitingFor, b)
			}
		}
		if len(waitingFor) == 0 {
			return true, nil
		}
		return false, l.h.graph.waiting(l.owner, l.key, waitingFor)
	})
	l.h.graph.stopped(l.owner)
	info := l.stored()
	info.Target, info.Blockers = "", nil
	if err != nil {
		// Withdraw the upgrade: the lease keeps its old mode.
		bg, cancel := context.WithTimeout(context.Background(), convertWithdrawTimeout)
		defer cancel()
		if serr := l.store(bg, info, 0, 0); serr != nil && !errors.Is(serr, ErrNotHeld) && l.Lost() == nil {
			l.sess.lose(fmt.Errorf("withdraw upgrade of %s: %w", l.resource, serr))
		}
		if errors.Is(err, ErrDeadlock) {
			return fmt.Errorf("convert %s: %w", l.resource, err)
		}
		return err
	}
	info.Mode = to.String()
	if err := l.store(ctx, info, 0, to); err != nil {
		if l.Mode() == to {
			return nil // it landed; only the answer was lost
		}
		l.withdrawPending()
		if l.Mode() == to {
			return nil // the write landed late, and was taken
		}
		if ctxErr(err) || ctx.Err() != nil {
			return waitErr(ctx, l.resource)
		}
		return l.convertErr(err)
	}
	return nil
}

func (l *Lease) convertErr(err error) error {
	if errors.Is(err, sdk.ErrNotFound) || errors.Is(err, sdk.ErrRevMismatch) {
		return fmt.Errorf("convert %s: %w: %w", l.resource, ErrNotHeld, err)
	}
	return backendErr("convert "+l.resource, err)
}

// revert converts ls back to mode after a failed upgrade.
func revert(ls []*Lease, mode Mode) {
	for _, l := range ls {
		_ = l.convert(context.Background(), mode)
	}
}
