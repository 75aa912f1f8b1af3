package host

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/locksmithx/locksmith/sdk"
)

// grant is a request's entry once it is granted.
type grant struct {
	createRev int64
	modRev    int64
}

// acquire enqueues the request and waits until it is granted. An
// uncontended acquire is one backend call: the put returns the queue
// atomically with it.
func (h *Host) acquire(ctx context.Context, s *session, resource, key string, info requestInfo, o lockOptions) (grant, error) {
	put, err := h.enqueue(ctx, s, resource, key, info)
	if err != nil {
		if errors.Is(err, sdk.ErrSessionExpired) {
			s.lose(fmt.Errorf("session %s expired: %w", s.id, err))
			return grant{}, fmt.Errorf("lock %s: %w: %w", resource, ErrLost, err)
		}
		if !s.alive() {
			return grant{}, sessionEnded(s, resource)
		}
		if ctxErr(err) {
			// The put may have reached the store before the caller gave
			// up: a request left there would block the resource for as
			// long as the session lives.
			h.withdraw(s, resource, key, 0)
			return grant{}, waitErr(ctx, resource)
		}
		return grant{}, backendErr("lock "+resource, err)
	}
	g := grant{createRev: put.CreateRev, modRev: put.ModRev}
	q := newQueue(put.Entries)
	if q.granted(key) {
		return g, nil
	}
	if o.noWait {
		h.withdraw(s, resource, key, g.modRev)
		return grant{}, fmt.Errorf("lock %s: %w", resource, ErrConflict)
	}
	h.events.publish(Event{Kind: EventWaiting, Resource: resource, Mode: o.mode, Token: g.createRev})
	err = h.wait(ctx, s, resource, key, put.Rev, q, o.owner)
	if err != nil {
		h.withdraw(s, resource, key, g.modRev)
		return grant{}, err
	}
	return g, nil
}

// enqueue puts the request's entry and returns the queue after it. A put
// retried on a restarted plugin that finds its key present was done by
// the first attempt: the queue is read to find it.
func (h *Host) enqueue(ctx context.Context, s *session, resource, key string, info requestInfo) (sdk.PutResult, error) {
	var put sdk.PutResult
	err := s.callOn(ctx, func(g *generation, retry bool) error {
		var err error
		put, err = g.put(ctx, sdk.PutRequest{Resource: resource, Key: key, Value: encodeRequest(info),
			Session: s.id, IfAbsent: true, WithRange: true})
		if !retry || !errors.Is(err, sdk.ErrExists) {
			return err
		}
		r, rerr := g.backend.Range(ctx, resource)
		if rerr != nil {
			return rerr
		}
		for _, e := range r.Entries {
			if e.Key == key {
				put = sdk.PutResult{CreateRev: e.CreateRev, ModRev: e.ModRev, Rev: r.Rev, Entries: r.Entries}
				return nil
			}
		}
		return err
	})
	return put, err
}

// wait blocks until key is granted.
func (h *Host) wait(ctx context.Context, s *session, resource, key string, rev int64, q queue, o *Owner) error {
	_, err := h.follow(ctx, s, resource, key, rev, q, func(q queue) []string { return q.wakeOn(key) }, func(q queue) (bool, error) {
		i := q.index(key)
		if i < 0 {
			return false, fmt.Errorf("lock %s: %w: the request was removed from the queue while waiting", resource, ErrLost)
		}
		bl := q.blockers(i)
		if len(bl) == 0 {
			return true, nil
		}
		keys := make([]string, len(bl))
		for n, j := range bl {
			keys[n] = q[j].Key
		}
		if err := h.graph.waiting(o, key, keys); err != nil {
			return false, fmt.Errorf("lock %s: %w", resource, err)
		}
		return false, nil
	})
	h.graph.stopped(o)
	return err
}

// follow reads the resource's queue as it changes — through the backend's
// watch from revision rev, or by polling a backend that cannot watch —
// until done says so. done also runs when the host's wait-for graph
// changes, so that deadlocks are found even when the resource is quiet.
//
// wakeOn names the entries whose change can end the wait (sdk.WithWakeOn):
// a store may hold other changes back, so that a queue of many waiters is
// not woken whole by each change. When the queue moves so that the wait
// depends on an entry the watch was not told of, the watch is started
// again with the new keys, from the last revision seen.
func (h *Host) follow(ctx context.Context, s *session, resource, key string, rev int64, q queue, wakeOn func(queue) []string, done func(queue) (bool, error)) (queue, error) {
	// The graph's change signal is taken before each look at the graph
	// (done), so a change in between wakes the wait.
	graph := h.graph.changed()
	if ok, err := done(q); ok || err != nil {
		return q, err
	}
	if !s.current().info.Has(sdk.CapWatch) {
		return h.poll(ctx, s, resource, graph, done)
	}
	// The events change the queue in place: it is this call's own.
	q = slices.Clone(q)
	// On a store that answers a delete with the queue after it, the
	// session's own releases hand that queue here (local handoff).
	var (
		handed <-chan snapshot
		inbox  *inbox
	)
	if s.current().info.Has(sdk.CapDeleteRange) && !h.watchOnly {
		inbox = s.local.join(resource)
		defer s.local.leave(resource, inbox)
		handed = inbox.ch
	}
	for {
		g := s.current()
		wctx, cancel := context.WithCancel(ctx)
		hint := wakeOn(q)
		if inbox != nil && len(hint) > 0 {
			s.local.wakeOn(inbox, hint)
		}
		events := make(chan sdk.Event, 64)
		errc := make(chan error, 1)
		go func(from int64) {
			errc <- g.backend.Watch(sdk.WithWakeOn(wctx, hint...), resource, from, func(ev sdk.Event) error {
				select {
				case events <- ev:
					return nil
				case <-wctx.Done():
					return wctx.Err()
				}
			})
		}(rev + 1)

		ok, err := func() (bool, error) {
			for {
				byHand := false
				select {
				case ev := <-events:
					if h.onWatchEvent != nil {
						h.onWatchEvent()
					}
					// Events up to a queue handed by a release are in it.
					if ev.Rev > rev {
						rev = ev.Rev
						q = q.apply(ev)
					}
					// Drain what else has arrived before deciding.
					for more := true; more; {
						select {
						case ev := <-events:
							if ev.Rev > rev {
								rev = ev.Rev
								q = q.apply(ev)
							}
						default:
							more = false
						}
					}
				case snap := <-handed:
					if snap.rev <= rev {
						continue
					}
					rev, q, byHand = snap.rev, snap.q, true
				case <-graph:
				case err := <-errc:
					return false, err
				case <-s.ctx.Done():
					return false, sessionEnded(s, resource)
				case <-ctx.Done():
					return false, waitErr(ctx, resource)
				}
				graph = h.graph.changed()
				if ok, err := done(q); ok || err != nil {
					if ok && byHand {
						h.metrics.handedOff()
					}
					return ok, err
				}
				if len(hint) > 0 && !subset(wakeOn(q), hint) {
					return false, errRewatch
				}
			}
		}()
		cancel()
		if ok {
			return q, nil
		}
		if err == errRewatch {
			continue
		}
		if !s.alive() {
			// Whatever broke the watch, the wait ends because the session
			// did: say so, with its cause.
			return q, sessionEnded(s, resource)
		}
		if ctxErr(err) {
			return q, waitErr(ctx, resource)
		}
		if s.movable(ctx, g, err) {
			// The plugin died and the session lives on in its restart:
			// follow the queue there from the last revision seen.
			continue
		}
		if !s.alive() {
			return q, sessionEnded(s, resource)
		}
		if ctx.Err() != nil {
			return q, waitErr(ctx, resource)
		}
		if !errors.Is(err, sdk.ErrCompacted) {
			if sdk.CodeOf(err) != sdk.CodeUnknown && ctx.Err() == nil {
				return q, backendErr("watch "+resource, err)
			}
			return q, err
		}
		// The watch fell behind the store's history: read the queue again
		// and follow it from there.
		var r sdk.RangeResult
		rerr := s.call(ctx, func(be sdk.Backend, _ bool) error {
			var err error
			r, err = be.Range(ctx, resource)
			return err
		})
		if rerr != nil {
			if ctxErr(rerr) {
				return q, waitErr(ctx, resource)
			}
			return q, backendErr("lock "+resource, rerr)
		}
		rev, q = r.Rev, newQueue(r.Entries)
		graph = h.graph.changed()
		if ok, err := done(q); ok || err != nil {
			return q, err
		}
	}
}

// errRewatch ends a watch whose wake-on keys no longer cover what the wait
// depends on.
var errRewatch = errors.New("watch again with other keys")

// subset reports whether every key of a is in b.
func subset(a, b []string) bool {
	for _, k := range a {
		if !slices.Contains(b, k) {
			return false
		}
	}
	return true
}

// poll waits by reading the queue again after each delay of the host's
// backoff: the fallback for backends that cannot watch.
func (h *Host) poll(ctx context.Context, s *session, resource string, graph <-chan struct{}, done func(queue) (bool, error)) (queue, error) {
	for attempt := 0; ; attempt++ {
		t := time.NewTimer(h.backoff.Delay(attempt))
		select {
		case <-t.C:
		case <-graph:
			t.Stop()
		case <-s.ctx.Done():
			t.Stop()
			return nil, sessionEnded(s, resource)
		case <-ctx.Done():
			t.Stop()
			return nil, waitErr(ctx, resource)
		}
		var r sdk.RangeResult
		err := s.call(ctx, func(be sdk.Backend, _ bool) error {
			var err error
			r, err = be.Range(ctx, resource)
			return err
		})
		if err != nil {
			if !s.alive() {
				return nil, sessionEnded(s, resource)
			}
			if ctx.Err() != nil || ctxErr(err) {
				return nil, waitErr(ctx, resource)
			}
			return nil, backendErr("lock "+resource, err)
		}
		q := newQueue(r.Entries)
		graph = h.graph.changed()
		if ok, err := done(q); ok || err != nil {
			return q, err
		}
	}
}

// waitErr is the error of a wait that ctx ended: ErrTimeout at its
// deadline (also when a call carrying the deadline noticed it before ctx's
// own timer fired), else ctx's error.
func waitErr(ctx context.Context, resource string) error {
	if d, ok := ctx.Deadline(); errors.Is(ctx.Err(), context.DeadlineExceeded) || ok && !time.Now().Before(d) {
		return fmt.Errorf("lock %s: %w", resource, ErrTimeout)
	}
	err := ctx.Err()
	if err == nil {
		err = context.Canceled
	}
	return fmt.Errorf("lock %s: %w", resource, err)
}

// sessionEnded is the error of a wait whose session ended: ErrClosed when
// its host closed it, else ErrLost with the cause.
func sessionEnded(s *session, resource string) error {
	cause := context.Cause(s.ctx)
	if errors.Is(cause, errSessionClosed) {
		return fmt.Errorf("lock %s: %w", resource, ErrClosed)
	}
	return fmt.Errorf("lock %s: %w: %w", resource, ErrLost, cause)
}

// ctxErr reports whether err says a call ended with its context.
func ctxErr(err error) bool {
	return errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled)
}

// withdraw removes a request that will not be granted. If the store cannot
// be told, the session is given up (and revoked), so that the stray
// request can never block others.
func (h *Host) withdraw(s *session, resource, key string, modRev int64) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	err := s.callOn(ctx, func(g *generation, _ bool) error {
		_, err := g.delete(ctx, sdk.DeleteRequest{Resource: resource, Key: key, ExpectRev: modRev})
		return err
	})
	if err == nil || errors.Is(err, sdk.ErrNotFound) || !s.alive() {
		return
	}
	s.lose(fmt.Errorf("withdraw request from %s: %w", resource, err))
	_ = s.backend().Revoke(ctx, s.id)
}
