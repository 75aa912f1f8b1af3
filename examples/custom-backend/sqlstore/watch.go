package sqlstore

import (
	"context"
	"database/sql"
	"time"

	"github.com/locksmithx/locksmith/sdk"
)

// watchBatch bounds the changes one read of the log returns.
const watchBatch = 256

// Watch replays the logged changes of resource from fromRev, then sends
// each new change as it is committed, by this process or another, until
// ctx ends, send fails or the store is closed. A change of this process
// wakes the watch at once; one of another process is found by polling the
// log every Config.Poll. A fromRev older than the log fails with
// sdk.ErrCompacted before anything is sent; so does a watcher that falls
// further behind than the log reaches.
func (s *Store) Watch(ctx context.Context, resource string, fromRev int64, send func(sdk.Event) error) error {
	if resource == "" {
		return sdk.Errorf(sdk.CodeInvalidArgument, "watch: empty resource name")
	}
	s.mu.Lock()
	poll := s.poll
	s.mu.Unlock()
	tick := time.NewTicker(max(poll, time.Millisecond))
	defer tick.Stop()
	next := fromRev
	for {
		if err := ctx.Err(); err != nil {
			return err
		}
		s.mu.Lock()
		changed := s.changed
		s.mu.Unlock()
		events, err := s.since(ctx, resource, next)
		if err != nil {
			return err
		}
		for _, ev := range events {
			if err := send(ev); err != nil {
				return err
			}
			next = ev.Rev + 1
		}
		if len(events) == watchBatch {
			continue
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-changed:
		case <-tick.C:
		}
	}
}

// since reads the logged changes of resource from revision from on.
func (s *Store) since(ctx context.Context, resource string, from int64) ([]sdk.Event, error) {
	var out []sdk.Event
	err := s.read(ctx, "watch", func(tx *sql.Tx) error {
		_, compacted, err := resourceRev(ctx, tx, resource)
		if err != nil {
			return err
		}
		if compacted > 0 && from <= compacted {
			return sdk.Errorf(sdk.CodeCompacted, "watch %s from revision %d: history starts after %d; range again and watch from its revision", resource, from, compacted)
		}
		rows, err := tx.QueryContext(ctx, `SELECT rev, type, key, value, session, create_rev, mod_rev FROM events
			WHERE resource = ? AND rev >= ? ORDER BY rev LIMIT ?`, resource, from, watchBatch)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var ev sdk.Event
			var typ int
			if err := rows.Scan(&ev.Rev, &typ, &ev.Entry.Key, &ev.Entry.Value, &ev.Entry.Session, &ev.Entry.CreateRev, &ev.Entry.ModRev); err != nil {
				return err
			}
			ev.Type = sdk.EventType(typ)
			out = append(out, ev)
		}
		return rows.Err()
	})
	return out, dbErr(ctx, "watch", err)
}
