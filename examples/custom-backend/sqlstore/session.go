package sqlstore

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"errors"
	"os"
	"time"

	"github.com/locksmithx/locksmith/sdk"
)

// OpenSession starts a session that ends ttl after its last renewal. A ttl
// that is not positive is an error wrapping sdk.ErrInvalidArgument. The
// session's meta is not stored: this store has no use for it.
func (s *Store) OpenSession(ctx context.Context, ttl time.Duration, _ map[string]string) (sdk.Session, error) {
	if ttl <= 0 {
		return sdk.Session{}, sdk.Errorf(sdk.CodeInvalidArgument, "open session: ttl must be positive, got %v", ttl)
	}
	id, err := newID()
	if err != nil {
		return sdk.Session{}, err
	}
	err = s.write(ctx, "open session", func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, `INSERT INTO sessions (id, ttl, deadline) VALUES (?, ?, ?)`,
			id, int64(ttl), time.Now().Add(ttl).UnixNano())
		return err
	})
	if err != nil {
		return sdk.Session{}, dbErr(ctx, "open session", err)
	}
	return sdk.Session{ID: id, TTL: ttl}, nil
}

// KeepAlive moves the session's deadline one TTL from now. A session past
// its deadline is ended here, and gives sdk.ErrSessionExpired.
func (s *Store) KeepAlive(ctx context.Context, id string) (time.Duration, error) {
	var ttl time.Duration
	err := s.write(ctx, "keep alive", func(tx *sql.Tx) error {
		t, err := s.liveSession(ctx, tx, id)
		if err != nil {
			return err
		}
		ttl = t
		_, err = tx.ExecContext(ctx, `UPDATE sessions SET deadline = ? WHERE id = ?`, time.Now().Add(ttl).UnixNano(), id)
		return err
	})
	if err != nil {
		return 0, dbErr(ctx, "keep alive", err)
	}
	return ttl, nil
}

// AdoptSession takes over a live session another process of this plugin
// opened, and restarts its TTL. The store's sessions live in the database,
// so they need no anchor.
func (s *Store) AdoptSession(ctx context.Context, id string, ttl time.Duration, _ *os.File) (sdk.Session, error) {
	if ttl <= 0 {
		return sdk.Session{}, sdk.Errorf(sdk.CodeInvalidArgument, "adopt session: ttl must be positive, got %v", ttl)
	}
	err := s.write(ctx, "adopt session", func(tx *sql.Tx) error {
		if _, err := s.liveSession(ctx, tx, id); err != nil {
			return err
		}
		_, err := tx.ExecContext(ctx, `UPDATE sessions SET ttl = ?, deadline = ? WHERE id = ?`, int64(ttl), time.Now().Add(ttl).UnixNano(), id)
		return err
	})
	if err != nil {
		return sdk.Session{}, dbErr(ctx, "adopt session", err)
	}
	return sdk.Session{ID: id, TTL: ttl}, nil
}

// Revoke ends the session and removes its entries, one revision each.
// Revoking an unknown or ended session is not an error.
func (s *Store) Revoke(ctx context.Context, id string) error {
	err := s.write(ctx, "revoke", func(tx *sql.Tx) error { return s.end(ctx, tx, id) })
	return dbErr(ctx, "revoke", err)
}

// liveSession returns the TTL of session id if it is live. A session past
// its deadline is ended in tx, which is then committed with the
// sdk.ErrSessionExpired this returns.
func (s *Store) liveSession(ctx context.Context, tx *sql.Tx, id string) (time.Duration, error) {
	var ttl, deadline int64
	err := tx.QueryRowContext(ctx, `SELECT ttl, deadline FROM sessions WHERE id = ?`, id).Scan(&ttl, &deadline)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, sdk.Errorf(sdk.CodeSessionExpired, "session %q has expired, was revoked, or never existed", id)
	}
	if err != nil {
		return 0, err
	}
	if deadline <= time.Now().UnixNano() {
		if err := s.end(ctx, tx, id); err != nil {
			return 0, err
		}
		return 0, &committed{sdk.Errorf(sdk.CodeSessionExpired, "session %q has expired", id)}
	}
	return time.Duration(ttl), nil
}

// end removes session id and its entries, each removal a change Watch
// sees, in tx.
func (s *Store) end(ctx context.Context, tx *sql.Tx, id string) error {
	rows, err := tx.QueryContext(ctx, `SELECT resource, key FROM entries WHERE session = ? ORDER BY resource, key`, id)
	if err != nil {
		return err
	}
	type rk struct{ resource, key string }
	var owned []rk
	for rows.Next() {
		var x rk
		if err := rows.Scan(&x.resource, &x.key); err != nil {
			rows.Close()
			return err
		}
		owned = append(owned, x)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return err
	}
	for _, x := range owned {
		if _, err := s.remove(ctx, tx, x.resource, x.key); err != nil {
			return err
		}
	}
	_, err = tx.ExecContext(ctx, `DELETE FROM sessions WHERE id = ?`, id)
	return err
}

// sweepLoop ends the sessions past their deadline every interval, until
// Close. Every process of the plugin sweeps, so a session expires even when
// the process that opened it is gone.
func (s *Store) sweepLoop(every time.Duration) {
	defer s.swept.Done()
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-s.stop:
			return
		case <-t.C:
			_ = s.sweep(context.Background())
		}
	}
}

// sweep ends every session past its deadline.
func (s *Store) sweep(ctx context.Context) error {
	var expired []string
	err := s.read(ctx, "sweep", func(tx *sql.Tx) error {
		rows, err := tx.QueryContext(ctx, `SELECT id FROM sessions WHERE deadline <= ?`, time.Now().UnixNano())
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var id string
			if err := rows.Scan(&id); err != nil {
				return err
			}
			expired = append(expired, id)
		}
		return rows.Err()
	})
	if err != nil || len(expired) == 0 {
		return err
	}
	return s.write(ctx, "sweep", func(tx *sql.Tx) error {
		for _, id := range expired {
			// Another process may have renewed it since the read.
			var deadline int64
			err := tx.QueryRowContext(ctx, `SELECT deadline FROM sessions WHERE id = ?`, id).Scan(&deadline)
			if errors.Is(err, sql.ErrNoRows) || err == nil && deadline > time.Now().UnixNano() {
				continue
			}
			if err != nil {
				return err
			}
			if err := s.end(ctx, tx, id); err != nil {
				return err
			}
		}
		return nil
	})
}

func newID() (string, error) {
	var b [12]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", sdk.Errorf(sdk.CodeUnavailable, "open session: read random id: %v", err)
	}
	return hex.EncodeToString(b[:]), nil
}
