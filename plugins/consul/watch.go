package consul

import (
	"context"
	"fmt"
	"time"

	"github.com/hashicorp/consul/api"

	"github.com/locksmithx/locksmith/sdk"
)

// watchWait is how long one blocking query waits for a change before it
// is asked again; Consul adds up to 1/16 of jitter.
const watchWait = 5 * time.Minute

// retryFor is how long Watch keeps asking an agent that does not answer
// (or a cluster without a leader: an election takes a few seconds) before
// it gives up with sdk.ErrUnavailable, and how long a write waits for a
// leader. The host gives a lease up sooner if its session cannot be
// renewed meanwhile.
const retryFor = 30 * time.Second

// Watch delivers every change of the resource from fromRev on, in order:
// it reads the events up to the resource's revision from the ring of the
// last `history` events, then waits with a blocking query on the
// resource's keys from the last index it saw, and on every change reads
// the new events. When Consul has released the entries of an ended
// session it removes them, and delivers those removals like any change. A
// fromRev older than the ring gives sdk.ErrCompacted before anything is
// sent; fromRev below 1 means 1.
//
// Watch blocks until ctx ends (returning ctx's error), send returns an
// error (returning it), or the agent cannot be reached for a while (an
// error with code sdk.CodeUnavailable); the caller resumes from the
// revision after the last event it got.
func (s *Store) Watch(ctx context.Context, resource string, fromRev int64, send func(sdk.Event) error) error {
	c, err := s.conn()
	if err != nil {
		return err
	}
	if resource == "" {
		return sdk.Errorf(sdk.CodeInvalidArgument, "consul: watch: resource is empty")
	}
	next := max(fromRev, 1)
	var index uint64
	var failing time.Time
	for {
		var err error
		next, index, err = c.watchOnce(ctx, resource, next, index, send)
		if err == nil {
			failing = time.Time{}
			continue
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if se, ok := err.(*sendError); ok {
			return se.err
		}
		if sdk.CodeOf(err) != sdk.CodeUnavailable {
			return err
		}
		// The agent does not answer, or the cluster has no leader: ask
		// again for a while (an election takes seconds).
		if failing.IsZero() {
			failing = time.Now()
		}
		if time.Since(failing) > retryFor {
			return err
		}
		if err := sleepCtx(ctx, backoff(int(time.Since(failing)/(100*time.Millisecond)))); err != nil {
			return err
		}
	}
}

// watchOnce waits for the resource to change after index, delivers the
// events from next on and removes released entries. It returns the next
// revision to deliver and the index to wait from.
func (c *conn) watchOnce(ctx context.Context, resource string, next int64, index uint64, send func(sdk.Event) error) (int64, uint64, error) {
	opts := (&api.QueryOptions{WaitIndex: index, WaitTime: watchWait}).WithContext(ctx)
	pairs, meta, err := c.api.KV().List(c.keys.resource(resource), opts)
	if err != nil {
		return next, index, c.fail(fmt.Sprintf("watch %q", resource), err)
	}
	if meta.LastIndex < index {
		// The index went backwards (a restored snapshot, another
		// leader's state): start the blocking queries afresh.
		index = 0
	} else {
		index = meta.LastIndex
	}
	snap, err := c.parseSnapshot(resource, pairs)
	if err != nil {
		return next, index, err
	}
	c.cache.put(resource, snap)
	if snap.rev >= next {
		from, to := next, snap.rev
		evs, err := c.flights.do(ctx, resource, from, to, func() ([]sdk.Event, error) {
			// Shared by the watchers waiting on it: not bound to this
			// watcher's ctx alone.
			rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), retryFor)
			defer cancel()
			return c.events(rctx, resource, from, to)
		})
		if err != nil {
			return next, index, err
		}
		for _, ev := range evs {
			next = ev.Rev + 1
			if err := send(ev); err != nil {
				return next, index, &sendError{err}
			}
		}
	}
	if len(snap.dead()) > 0 {
		if _, err := c.clean(ctx, resource); err != nil {
			return next, index, err
		}
	}
	return next, index, nil
}

// sendError carries the error of Watch's send, which ends Watch as it is.
type sendError struct{ err error }

func (e *sendError) Error() string { return e.err.Error() }
func (e *sendError) Unwrap() error { return e.err }

// maxReadOps is how many reads one read-only transaction carries.
const maxReadOps = 64

// events reads the events from..to of the resource from its ring.
func (c *conn) events(ctx context.Context, resource string, from, to int64) ([]sdk.Event, error) {
	compacted := func() error {
		return sdk.Errorf(sdk.CodeCompacted,
			"consul: watch %q: revision %d is older than the kept history (current revision %d, history %d events): range again and watch from its revision",
			resource, from, to, c.keys.hist)
	}
	if to-from+1 > c.keys.hist {
		return nil, compacted()
	}
	out := make([]sdk.Event, 0, to-from+1)
	for lo := from; lo <= to; lo += maxReadOps {
		hi := min(lo+maxReadOps-1, to)
		ops := make(api.KVTxnOps, 0, hi-lo+1)
		for rev := lo; rev <= hi; rev++ {
			ops = append(ops, &api.KVTxnOp{Verb: api.KVGetOrEmpty, Key: c.keys.slot(resource, rev)})
		}
		ok, resp, _, err := c.api.KV().Txn(ops, (&api.QueryOptions{}).WithContext(ctx))
		if err != nil {
			if ctx.Err() != nil {
				return nil, ctx.Err()
			}
			return nil, c.fail(fmt.Sprintf("watch %q", resource), err)
		}
		if !ok || len(resp.Results) != len(ops) {
			return nil, sdk.Errorf(sdk.CodeUnknown, "consul: watch %q: reading the event ring failed: %v", resource, resp.Errors)
		}
		for i, kv := range resp.Results {
			want := lo + int64(i)
			if kv == nil || len(kv.Value) == 0 {
				return nil, compacted()
			}
			ev, err := decodeEvent(kv.Value)
			if err != nil {
				return nil, sdk.Errorf(sdk.CodeCorrupt, "consul: watch %q: %s: %v: run `locksmith repair`", resource, kv.Key, err)
			}
			if ev.Rev != want {
				// Overwritten by a later event: the watcher fell behind.
				return nil, compacted()
			}
			out = append(out, ev)
		}
	}
	return out, nil
}
