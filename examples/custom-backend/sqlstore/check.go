package sqlstore

import (
	"context"
	"database/sql"
	"fmt"

	"github.com/locksmithx/locksmith/sdk"
)

// Check reports entries whose session is gone and entries whose revisions
// are out of order, in one resource or ("") all of them.
func (s *Store) Check(ctx context.Context, resource string) ([]sdk.Problem, error) {
	var out []sdk.Problem
	err := s.read(ctx, "check", func(tx *sql.Tx) error {
		var err error
		out, err = s.inspect(ctx, tx, resource, false)
		return err
	})
	return out, dbErr(ctx, "check", err)
}

// Repair removes the entries Check reports, each as a change Watch sees.
func (s *Store) Repair(ctx context.Context, resource string) ([]sdk.Problem, error) {
	var out []sdk.Problem
	err := s.write(ctx, "repair", func(tx *sql.Tx) error {
		var err error
		out, err = s.inspect(ctx, tx, resource, true)
		return err
	})
	return out, dbErr(ctx, "repair", err)
}

// inspect finds, and with repair removes, damaged entries.
func (s *Store) inspect(ctx context.Context, tx *sql.Tx, resource string, repair bool) ([]sdk.Problem, error) {
	rows, err := tx.QueryContext(ctx, `SELECT e.resource, e.key, e.session, e.create_rev, e.mod_rev, coalesce(r.rev, 0), s.id IS NULL
		FROM entries e LEFT JOIN resources r ON r.name = e.resource LEFT JOIN sessions s ON s.id = e.session
		WHERE ?1 = '' OR e.resource = ?1 ORDER BY e.resource, e.key`, resource)
	if err != nil {
		return nil, err
	}
	var problems []sdk.Problem
	var keys []string
	for rows.Next() {
		var name, key, session string
		var create, mod, rev int64
		var orphan bool
		if err := rows.Scan(&name, &key, &session, &create, &mod, &rev, &orphan); err != nil {
			rows.Close()
			return nil, err
		}
		msg := ""
		switch {
		case orphan:
			msg = fmt.Sprintf("entry of ended session %q", session)
		case create > mod || mod > rev:
			msg = fmt.Sprintf("revisions out of order: create %d, mod %d, resource %d", create, mod, rev)
		default:
			continue
		}
		problems = append(problems, sdk.Problem{Resource: name, Path: s.path + " " + name + " " + key, Message: msg})
		keys = append(keys, key)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, err
	}
	if repair {
		for i, p := range problems {
			if _, err := s.remove(ctx, tx, p.Resource, keys[i]); err != nil {
				return nil, err
			}
			problems[i].Repaired = true
		}
	}
	return problems, nil
}
