package sqlstore

import (
	"context"
	"database/sql"
	"errors"

	"github.com/locksmithx/locksmith/sdk"
)

// Put creates or replaces an entry. A replaced entry keeps its CreateRev
// and passes to req.Session.
func (s *Store) Put(ctx context.Context, req sdk.PutRequest) (sdk.PutResult, error) {
	if err := validKey(req.Resource, req.Key); err != nil {
		return sdk.PutResult{}, err
	}
	var res sdk.PutResult
	err := s.write(ctx, "put", func(tx *sql.Tx) error {
		if _, err := s.liveSession(ctx, tx, req.Session); err != nil {
			return err
		}
		old, exists, err := entry(ctx, tx, req.Resource, req.Key)
		if err != nil {
			return err
		}
		if exists && req.IfAbsent {
			return sdk.Errorf(sdk.CodeExists, "put %s %s: entry exists", req.Resource, req.Key)
		}
		rev, err := s.nextRev(ctx, tx, req.Resource)
		if err != nil {
			return err
		}
		e := sdk.Entry{Key: req.Key, Value: req.Value, Session: req.Session, CreateRev: rev, ModRev: rev}
		if exists {
			e.CreateRev = old.CreateRev
		}
		if _, err := tx.ExecContext(ctx, `INSERT OR REPLACE INTO entries (resource, key, value, session, create_rev, mod_rev) VALUES (?, ?, ?, ?, ?, ?)`,
			req.Resource, e.Key, blob(e.Value), e.Session, e.CreateRev, e.ModRev); err != nil {
			return err
		}
		if err := s.record(ctx, tx, req.Resource, sdk.Event{Type: sdk.EventPut, Entry: e, Rev: rev}); err != nil {
			return err
		}
		res = sdk.PutResult{CreateRev: e.CreateRev, ModRev: e.ModRev, Rev: rev}
		if req.WithRange {
			res.Entries, err = entries(ctx, tx, req.Resource)
		}
		return err
	})
	return res, dbErr(ctx, "put", err)
}

// Update replaces the value of an entry whose ModRev is req.ExpectRev, and,
// with req.ExpectResourceRev set, only if the resource is still at that
// revision. ExpectRev 0 matches no entry (every ModRev is above 0), so it
// gives sdk.ErrRevMismatch.
func (s *Store) Update(ctx context.Context, req sdk.UpdateRequest) (sdk.UpdateResult, error) {
	if err := validKey(req.Resource, req.Key); err != nil {
		return sdk.UpdateResult{}, err
	}
	var res sdk.UpdateResult
	err := s.write(ctx, "update", func(tx *sql.Tx) error {
		old, ok, err := entry(ctx, tx, req.Resource, req.Key)
		if err != nil {
			return err
		}
		if !ok {
			return sdk.Errorf(sdk.CodeNotFound, "update %s %s: no such entry", req.Resource, req.Key)
		}
		if old.ModRev != req.ExpectRev {
			return sdk.Errorf(sdk.CodeRevMismatch, "update %s %s: revision is %d, not %d", req.Resource, req.Key, old.ModRev, req.ExpectRev)
		}
		if req.ExpectResourceRev != 0 {
			cur, _, err := resourceRev(ctx, tx, req.Resource)
			if err != nil {
				return err
			}
			if cur != req.ExpectResourceRev {
				return sdk.Errorf(sdk.CodeRevMismatch, "update %s %s: resource revision is %d, not %d", req.Resource, req.Key, cur, req.ExpectResourceRev)
			}
		}
		rev, err := s.nextRev(ctx, tx, req.Resource)
		if err != nil {
			return err
		}
		e := old
		e.Value, e.ModRev = req.Value, rev
		if _, err := tx.ExecContext(ctx, `UPDATE entries SET value = ?, mod_rev = ? WHERE resource = ? AND key = ?`,
			blob(e.Value), rev, req.Resource, req.Key); err != nil {
			return err
		}
		res = sdk.UpdateResult{ModRev: rev, Rev: rev}
		return s.record(ctx, tx, req.Resource, sdk.Event{Type: sdk.EventPut, Entry: e, Rev: rev})
	})
	return res, dbErr(ctx, "update", err)
}

// Delete removes an entry whose ModRev is req.ExpectRev (0: any).
func (s *Store) Delete(ctx context.Context, req sdk.DeleteRequest) (sdk.DeleteResult, error) {
	if err := validKey(req.Resource, req.Key); err != nil {
		return sdk.DeleteResult{}, err
	}
	var res sdk.DeleteResult
	err := s.write(ctx, "delete", func(tx *sql.Tx) error {
		old, ok, err := entry(ctx, tx, req.Resource, req.Key)
		if err != nil {
			return err
		}
		if !ok {
			return sdk.Errorf(sdk.CodeNotFound, "delete %s %s: no such entry", req.Resource, req.Key)
		}
		if req.ExpectRev != 0 && old.ModRev != req.ExpectRev {
			return sdk.Errorf(sdk.CodeRevMismatch, "delete %s %s: revision is %d, not %d", req.Resource, req.Key, old.ModRev, req.ExpectRev)
		}
		res.Rev, err = s.remove(ctx, tx, req.Resource, req.Key)
		return err
	})
	return res, dbErr(ctx, "delete", err)
}

// Range returns the resource's entries in creation order, and its revision:
// 0 for a resource never written.
func (s *Store) Range(ctx context.Context, resource string) (sdk.RangeResult, error) {
	if resource == "" {
		return sdk.RangeResult{}, sdk.Errorf(sdk.CodeInvalidArgument, "range: empty resource name")
	}
	var res sdk.RangeResult
	err := s.read(ctx, "range", func(tx *sql.Tx) error {
		var err error
		if res.Rev, _, err = resourceRev(ctx, tx, resource); err != nil {
			return err
		}
		res.Entries, err = entries(ctx, tx, resource)
		return err
	})
	return res, dbErr(ctx, "range", err)
}

// Resources lists, in lexical order, the resources with live entries whose
// names start with prefix. A resource whose entries are all gone keeps its
// revision counter in the database but is not listed.
func (s *Store) Resources(ctx context.Context, prefix string) ([]string, error) {
	var out []string
	err := s.read(ctx, "list resources", func(tx *sql.Tx) error {
		rows, err := tx.QueryContext(ctx, `SELECT DISTINCT resource FROM entries WHERE substr(resource, 1, length(?1)) = ?1 ORDER BY resource`, prefix)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var name string
			if err := rows.Scan(&name); err != nil {
				return err
			}
			out = append(out, name)
		}
		return rows.Err()
	})
	return out, dbErr(ctx, "list resources", err)
}

// remove deletes an entry as one change of its own and returns its
// revision.
func (s *Store) remove(ctx context.Context, tx *sql.Tx, resource, key string) (int64, error) {
	old, ok, err := entry(ctx, tx, resource, key)
	if err != nil || !ok {
		return 0, err
	}
	rev, err := s.nextRev(ctx, tx, resource)
	if err != nil {
		return 0, err
	}
	if _, err := tx.ExecContext(ctx, `DELETE FROM entries WHERE resource = ? AND key = ?`, resource, key); err != nil {
		return 0, err
	}
	old.Value = nil
	return rev, s.record(ctx, tx, resource, sdk.Event{Type: sdk.EventDelete, Entry: old, Rev: rev})
}

// nextRev moves the resource to its next revision and returns it.
func (s *Store) nextRev(ctx context.Context, tx *sql.Tx, resource string) (int64, error) {
	var rev int64
	err := tx.QueryRowContext(ctx, `INSERT INTO resources (name, rev) VALUES (?, 1)
		ON CONFLICT (name) DO UPDATE SET rev = rev + 1 RETURNING rev`, resource).Scan(&rev)
	return rev, err
}

// record logs ev for Watch and drops the changes older than the history.
func (s *Store) record(ctx context.Context, tx *sql.Tx, resource string, ev sdk.Event) error {
	e := ev.Entry
	if _, err := tx.ExecContext(ctx, `INSERT INTO events (resource, rev, type, key, value, session, create_rev, mod_rev) VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
		resource, ev.Rev, int(ev.Type), e.Key, blob(e.Value), e.Session, e.CreateRev, e.ModRev); err != nil {
		return err
	}
	s.mu.Lock()
	history := int64(s.history)
	s.mu.Unlock()
	if drop := ev.Rev - history; drop > 0 {
		if _, err := tx.ExecContext(ctx, `DELETE FROM events WHERE resource = ? AND rev <= ?`, resource, drop); err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, `UPDATE resources SET compacted = max(compacted, ?) WHERE name = ?`, drop, resource); err != nil {
			return err
		}
	}
	return nil
}

// resourceRev returns the resource's revision and the newest revision its
// log has dropped; both 0 for a resource never written.
func resourceRev(ctx context.Context, tx *sql.Tx, resource string) (rev, compacted int64, err error) {
	err = tx.QueryRowContext(ctx, `SELECT rev, compacted FROM resources WHERE name = ?`, resource).Scan(&rev, &compacted)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, 0, nil
	}
	return rev, compacted, err
}

// entry reads one entry.
func entry(ctx context.Context, tx *sql.Tx, resource, key string) (sdk.Entry, bool, error) {
	e := sdk.Entry{Key: key}
	err := tx.QueryRowContext(ctx, `SELECT value, session, create_rev, mod_rev FROM entries WHERE resource = ? AND key = ?`, resource, key).
		Scan(&e.Value, &e.Session, &e.CreateRev, &e.ModRev)
	if errors.Is(err, sql.ErrNoRows) {
		return sdk.Entry{}, false, nil
	}
	return e, err == nil, err
}

// entries reads a resource's entries in creation order.
func entries(ctx context.Context, tx *sql.Tx, resource string) ([]sdk.Entry, error) {
	rows, err := tx.QueryContext(ctx, `SELECT key, value, session, create_rev, mod_rev FROM entries WHERE resource = ? ORDER BY create_rev`, resource)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []sdk.Entry
	for rows.Next() {
		var e sdk.Entry
		if err := rows.Scan(&e.Key, &e.Value, &e.Session, &e.CreateRev, &e.ModRev); err != nil {
			return nil, err
		}
		out = append(out, e)
	}
	return out, rows.Err()
}

func validKey(resource, key string) error {
	if resource == "" || key == "" {
		return sdk.Errorf(sdk.CodeInvalidArgument, "resource and key must not be empty (resource %q, key %q)", resource, key)
	}
	return nil
}

// blob stores nil and empty values alike as an empty blob, never NULL.
func blob(b []byte) []byte {
	if b == nil {
		return []byte{}
	}
	return b
}
