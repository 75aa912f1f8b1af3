package host

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/locksmithx/locksmith/sdk"
)

// Poll bounds for backends that cannot watch.
const (
	minPoll = 5 * time.Millisecond
	maxPoll = 500 * time.Millisecond
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
	be := s.gen.backend
	put, err := be.Put(ctx, sdk.PutRequest{Resource: resource, Key: key, Value: encodeRequest(info),
		Session: s.id, IfAbsent: true, WithRange: true})
	if err != nil {
		if errors.Is(err, sdk.ErrSessionExpired) {
			s.lose(fmt.Errorf("session %s expired: %w", s.id, err))
			return grant{}, fmt.Errorf("lock %s: %w: %w", resource, ErrLost, err)
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
	err = h.wait(ctx, s, resource, key, put.Rev, q)
	if err != nil {
		h.withdraw(s, resource, key, g.modRev)
		return grant{}, err
	}
	return g, nil
}

// wait blocks until key is granted, following the queue through the
// backend's watch (or by polling a backend that cannot watch).
func (h *Host) wait(ctx context.Context, s *session, resource, key string, rev int64, q queue) error {
	be := s.gen.backend
	if !s.gen.info.Has(sdk.CapWatch) {
		return h.poll(ctx, s, resource, key)
	}
	for {
		wctx, cancel := context.WithCancel(ctx)
		events := make(chan sdk.Event, 64)
		errc := make(chan error, 1)
		go func(from int64) {
			errc <- be.Watch(wctx, resource, from, func(ev sdk.Event) error {
				select {
				case events <- ev:
					return nil
				case <-wctx.Done():
					return wctx.Err()
				}
			})
		}(rev + 1)

		err := func() error {
			for {
				select {
				case ev := <-events:
					rev = ev.Rev
					q = q.apply(ev)
					if ev.Type == sdk.EventDelete && ev.Entry.Key == key {
						return fmt.Errorf("lock %s: %w: the request was removed from the queue while waiting", resource, ErrLost)
					}
					if q.granted(key) {
						return nil
					}
				case err := <-errc:
					return err
				case <-s.ctx.Done():
					return fmt.Errorf("lock %s: %w: %w", resource, ErrLost, context.Cause(s.ctx))
				case <-ctx.Done():
					return waitErr(ctx, resource)
				}
			}
		}()
		cancel()
		if err == nil || !errors.Is(err, sdk.ErrCompacted) {
			if err != nil && sdk.CodeOf(err) != sdk.CodeUnknown && ctx.Err() == nil && s.alive() {
				return backendErr("watch "+resource, err)
			}
			return err
		}
		// The watch fell behind the store's history: read the queue again
		// and follow it from there.
		r, rerr := be.Range(ctx, resource)
		if rerr != nil {
			return backendErr("lock "+resource, rerr)
		}
		rev, q = r.Rev, newQueue(r.Entries)
		if q.index(key) < 0 {
			return fmt.Errorf("lock %s: %w: the request was removed from the queue while waiting", resource, ErrLost)
		}
		if q.granted(key) {
			return nil
		}
	}
}

// poll waits by reading the queue again with exponential backoff: the
// fallback for backends without watch.
func (h *Host) poll(ctx context.Context, s *session, resource, key string) error {
	delay := minPoll
	t := time.NewTimer(delay)
	defer t.Stop()
	for {
		select {
		case <-t.C:
		case <-s.ctx.Done():
			return fmt.Errorf("lock %s: %w: %w", resource, ErrLost, context.Cause(s.ctx))
		case <-ctx.Done():
			return waitErr(ctx, resource)
		}
		r, err := s.gen.backend.Range(ctx, resource)
		if err != nil {
			if ctx.Err() != nil {
				return waitErr(ctx, resource)
			}
			return backendErr("lock "+resource, err)
		}
		q := newQueue(r.Entries)
		if q.index(key) < 0 {
			return fmt.Errorf("lock %s: %w: the request was removed from the queue while waiting", resource, ErrLost)
		}
		if q.granted(key) {
			return nil
		}
		delay = min(delay*2, maxPoll)
		t.Reset(jitter(delay))
	}
}

// jitter spreads d over [d/2, d).
func jitter(d time.Duration) time.Duration {
	n := time.Now().UnixNano()
	return d/2 + time.Duration(n%int64(d/2+1))
}

func waitErr(ctx context.Context, resource string) error {
	if errors.Is(ctx.Err(), context.DeadlineExceeded) {
		return fmt.Errorf("lock %s: %w", resource, ErrTimeout)
	}
	return fmt.Errorf("lock %s: %w", resource, ctx.Err())
}

// withdraw removes a request that will not be granted. If the store cannot
// be told, the session is given up (and revoked), so that the stray
// request can never block others.
func (h *Host) withdraw(s *session, resource, key string, modRev int64) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_, err := s.gen.backend.Delete(ctx, sdk.DeleteRequest{Resource: resource, Key: key, ExpectRev: modRev})
	if err == nil || errors.Is(err, sdk.ErrNotFound) {
		return
	}
	s.lose(fmt.Errorf("withdraw request from %s: %w", resource, err))
	_ = s.gen.backend.Revoke(ctx, s.id)
}
