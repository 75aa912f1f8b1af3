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
// before it gives up with sdk.ErrUnavailable.
const retryFor = 2 * time.Second

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
		opts := (&api.QueryOptions{WaitIndex: index, WaitTime: watchWait}).WithContext(ctx)
		pairs, meta, err := c.api.KV().List(c.keys.resource(resource), opts)
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if err != nil {
			if failing.IsZero() {
				failing = time.Now()
			}
			if time.Since(failing) > retryFor {
				return c.fail(fmt.Sprintf("watch %q", resource), err)
			}
			if err := sleepCtx(ctx, 100*time.Millisecond); err != nil {
				return err
			}
			continue
		}
		failing = time.Time{}
		if meta.LastIndex < index {
			// The index went backwards (a restored snapshot, another
			// leader's state): start the blocking queries afresh.
			index = 0
		} else {
			index = meta.LastIndex
		}
		snap, err := c.parseSnapshot(resource, pairs)
		if err != nil {
			return err
		}
		c.cache.put(resource, snap)
		if snap.rev >= next {
			evs, err := c.events(ctx, resource, next, snap.rev)
			if err != nil {
				return err
			}
			for _, ev := range evs {
				next = ev.Rev + 1
				if err := send(ev); err != nil {
					return err
				}
			}
		}
		if len(snap.dead()) > 0 {
			if _, err := c.clean(ctx, resource); err != nil {
				if ctx.Err() != nil {
					return ctx.Err()
				}
				return err
			}
		}
	}
}

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
