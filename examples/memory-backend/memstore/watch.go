package memstore

import (
	"context"

	"github.com/locksmithx/locksmith/sdk"
)

// Watch replays the logged changes of resource from fromRev, then sends
// each new change as it happens, until ctx ends, send fails or the store is
// closed. A fromRev older than the log fails with sdk.ErrCompacted before
// anything is sent; so does a watcher that falls further behind than the
// log reaches.
func (s *Store) Watch(ctx context.Context, resource string, fromRev int64, send func(sdk.Event) error) error {
	if resource == "" {
		return sdk.Errorf(sdk.CodeInvalidArgument, "watch: empty resource name")
	}
	next := fromRev
	for {
		if err := ctx.Err(); err != nil {
			return err
		}
		s.mu.Lock()
		if err := s.usable(); err != nil {
			s.mu.Unlock()
			return err
		}
		r := s.resource(resource)
		if next <= r.compacted {
			s.mu.Unlock()
			return sdk.Errorf(sdk.CodeCompacted, "watch %s from revision %d: history starts after %d; range again and watch from its revision", resource, next, r.compacted)
		}
		events := r.since(next)
		changed := r.changed
		s.mu.Unlock()

		for _, ev := range events {
			if err := send(ev); err != nil {
				return err
			}
			next = ev.Rev + 1
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-changed:
		}
	}
}
