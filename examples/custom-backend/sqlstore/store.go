// Package sqlstore is a Locksmith backend that keeps its state in a SQLite
// database file, through modernc.org/sqlite (pure Go, no cgo). It is written
// only against the sdk package, the way a third-party backend is, and
// passes sdk/backendtest.
//
// The host starts one plugin process per host process, so several processes
// of this plugin open the same database file at once. The store is built
// for that: every change is one IMMEDIATE transaction (SQLite serialises
// writers across processes, a writer waits up to the busy timeout), the
// database runs in WAL mode so that readers never wait for a writer, each
// resource's revision counter and change log live in the database, and
// Watch reads that log, so it sees the changes of every process. A change
// made by this process wakes its watchers at once; one made by another
// process is seen on the next poll (see Config.Poll).
//
// Sessions live in the database too, with a deadline on the wall clock:
// every process sweeps the sessions past their deadline, so a session
// expires even when the process that opened it is gone, and a restarted
// plugin can adopt a live session (sdk.SessionAdopter).
package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/url"
	"sync"
	"time"

	"github.com/locksmithx/locksmith/sdk"

	_ "modernc.org/sqlite" // registers the "sqlite" database/sql driver
)

// Defaults of the config.
const (
	DefaultHistory = 1000
	DefaultPoll    = 20 * time.Millisecond
	DefaultSweep   = 100 * time.Millisecond
)

// busyTimeout bounds how long a writer waits for another process's
// transaction to end.
const busyTimeout = 10 * time.Second

// Config is the store's section of the host config.
type Config struct {
	// Path is the database file, created if missing. A relative path is
	// resolved by the host against the directory of its config file.
	Path string `json:"path"`
	// History is how many changes per resource Watch can replay.
	History int `json:"history"`
	// Poll is how often a Watch looks for changes made by other processes
	// (a Go duration such as "20ms").
	Poll string `json:"poll"`
}

const configSchema = `{
  "type": "object",
  "properties": {
    "path": {"type": "string", "description": "the SQLite database file, shared by every process of the plugin"},
    "history": {"type": "integer", "minimum": 1, "description": "changes per resource that Watch can replay"},
    "poll": {"type": "string", "description": "how often Watch looks for other processes' changes, a Go duration (default 20ms)"}
  },
  "required": ["path"],
  "additionalProperties": false
}`

// Store is an sdk.Backend on a SQLite file. The zero value is not usable;
// call New, then Configure. All methods are safe for concurrent use.
type Store struct {
	// writeMu serialises this process's writers, so that SQLite's busy
	// wait is spent only on other processes.
	writeMu sync.Mutex

	mu      sync.Mutex
	db      *sql.DB
	path    string
	history int
	poll    time.Duration
	closed  bool
	// changed is closed, and replaced, on every change this process commits.
	changed chan struct{}
	stop    chan struct{}
	swept   sync.WaitGroup
}

// New returns a store that is configured by Configure.
func New() *Store {
	return &Store{changed: make(chan struct{}), stop: make(chan struct{})}
}

// Info describes the store. It does not need Configure.
func (s *Store) Info(context.Context) (sdk.PluginInfo, error) {
	return sdk.PluginInfo{
		Name:         "sqlite",
		Version:      "0.1.0",
		Kind:         sdk.KindBackend,
		Capabilities: []string{sdk.CapWatch, sdk.CapPersistent, sdk.CapRepair, sdk.CapAdopt},
		ConfigSchema: configSchema,
	}, nil
}

// Configure opens (creating it if needed) the database cfg names and starts
// the session sweep. A missing path, an unknown key or a bad value is an
// error wrapping sdk.ErrInvalidConfig; a database that cannot be opened is
// sdk.ErrUnavailable. Configure is called once.
func (s *Store) Configure(ctx context.Context, cfg sdk.Config) error {
	c := Config{History: DefaultHistory}
	if err := cfg.Decode(&c); err != nil {
		return err
	}
	if c.Path == "" {
		return sdk.Errorf(sdk.CodeInvalidConfig, "path: required: name the SQLite database file")
	}
	if c.History < 1 {
		return sdk.Errorf(sdk.CodeInvalidConfig, "history: must be at least 1, got %d", c.History)
	}
	poll := DefaultPoll
	if c.Poll != "" {
		d, err := time.ParseDuration(c.Poll)
		if err != nil || d <= 0 {
			return sdk.Errorf(sdk.CodeInvalidConfig, "poll: want a positive duration such as \"20ms\", got %q", c.Poll)
		}
		poll = d
	}
	db, err := open(ctx, c.Path)
	if err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.db != nil || s.closed {
		_ = db.Close()
		return sdk.Errorf(sdk.CodeInvalidConfig, "configure: the store is already configured or closed")
	}
	s.db, s.path, s.history, s.poll = db, c.Path, c.History, poll
	s.swept.Add(1)
	go s.sweepLoop(DefaultSweep)
	return nil
}

// open opens the database at path and creates its tables.
func open(ctx context.Context, path string) (*sql.DB, error) {
	q := url.Values{}
	q.Add("_pragma", fmt.Sprintf("busy_timeout(%d)", busyTimeout.Milliseconds()))
	q.Add("_pragma", "journal_mode(WAL)")
	q.Add("_pragma", "synchronous(NORMAL)")
	q.Add("_pragma", "foreign_keys(OFF)")
	q.Set("_txlock", "immediate")
	db, err := sql.Open("sqlite", "file:"+path+"?"+q.Encode())
	if err != nil {
		return nil, sdk.Errorf(sdk.CodeUnavailable, "open %s: %v", path, err)
	}
	if _, err := db.ExecContext(ctx, schema); err != nil {
		_ = db.Close()
		return nil, sdk.Errorf(sdk.CodeUnavailable, "create tables in %s: %v; check that the file is a SQLite database this process may write", path, err)
	}
	return db, nil
}

// schema creates the tables. Revisions are per resource; events is the
// change log Watch replays, compacted to the last History changes.
const schema = `
CREATE TABLE IF NOT EXISTS resources (
	name      TEXT PRIMARY KEY,
	rev       INTEGER NOT NULL,
	compacted INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE IF NOT EXISTS sessions (
	id       TEXT PRIMARY KEY,
	ttl      INTEGER NOT NULL,
	deadline INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS entries (
	resource   TEXT NOT NULL,
	key        TEXT NOT NULL,
	value      BLOB,
	session    TEXT NOT NULL,
	create_rev INTEGER NOT NULL,
	mod_rev    INTEGER NOT NULL,
	PRIMARY KEY (resource, key)
);
CREATE INDEX IF NOT EXISTS entries_session ON entries (session);
CREATE TABLE IF NOT EXISTS events (
	resource   TEXT NOT NULL,
	rev        INTEGER NOT NULL,
	type       INTEGER NOT NULL,
	key        TEXT NOT NULL,
	value      BLOB,
	session    TEXT NOT NULL,
	create_rev INTEGER NOT NULL,
	mod_rev    INTEGER NOT NULL,
	PRIMARY KEY (resource, rev)
);
`

// Health pings the database.
func (s *Store) Health(ctx context.Context) error {
	db, err := s.conn()
	if err != nil {
		return err
	}
	if err := db.PingContext(ctx); err != nil {
		return sdk.Errorf(sdk.CodeUnavailable, "ping %s: %v", s.path, err)
	}
	return nil
}

// Close stops the sweep, ends every Watch with sdk.ErrUnavailable and
// closes the database. Sessions stay in the database: they expire there,
// or are revoked by the sdk before Close. Close can safely be called more
// than once.
func (s *Store) Close() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	close(s.stop)
	s.notifyLocked()
	db := s.db
	s.mu.Unlock()
	s.swept.Wait()
	if db == nil {
		return nil
	}
	return db.Close()
}

// conn returns the database, or why the store cannot serve a call.
func (s *Store) conn() (*sql.DB, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	switch {
	case s.closed:
		return nil, sdk.Errorf(sdk.CodeUnavailable, "sqlite store is closed")
	case s.db == nil:
		return nil, sdk.Errorf(sdk.CodeUnavailable, "sqlite store is not configured: Configure must name its path first")
	}
	return s.db, nil
}

// notify wakes this process's watchers.
func (s *Store) notify() {
	s.mu.Lock()
	s.notifyLocked()
	s.mu.Unlock()
}

func (s *Store) notifyLocked() {
	close(s.changed)
	s.changed = make(chan struct{})
}

// write runs fn in one IMMEDIATE transaction and commits it, then wakes the
// watchers. An error fn returns rolls the transaction back, unless it is a
// *committed error: then what fn did is committed and its inner error
// returned.
func (s *Store) write(ctx context.Context, op string, fn func(tx *sql.Tx) error) error {
	db, err := s.conn()
	if err != nil {
		return err
	}
	s.writeMu.Lock()
	defer s.writeMu.Unlock()
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return dbErr(ctx, op, err)
	}
	ferr := fn(tx)
	var keep *committed
	if ferr != nil && !errors.As(ferr, &keep) {
		_ = tx.Rollback()
		return ferr
	}
	if err := tx.Commit(); err != nil {
		return dbErr(ctx, op, err)
	}
	s.notify()
	if keep != nil {
		return keep.err
	}
	return nil
}

// committed wraps an error that must not roll back its transaction: the
// removal of an expired session found on the way, for one.
type committed struct{ err error }

func (c *committed) Error() string { return c.err.Error() }
func (c *committed) Unwrap() error { return c.err }

// read runs fn in one read transaction: a consistent snapshot.
func (s *Store) read(ctx context.Context, op string, fn func(tx *sql.Tx) error) error {
	db, err := s.conn()
	if err != nil {
		return err
	}
	tx, err := db.BeginTx(ctx, &sql.TxOptions{ReadOnly: true})
	if err != nil {
		return dbErr(ctx, op, err)
	}
	defer func() { _ = tx.Rollback() }()
	return fn(tx)
}

// dbErr turns a database error into the contract's: the context's own
// error if it ended, else sdk.ErrUnavailable naming the operation.
func dbErr(ctx context.Context, op string, err error) error {
	if err == nil {
		return nil
	}
	if cerr := ctx.Err(); cerr != nil {
		return cerr
	}
	var se *sdk.Error
	if errors.As(err, &se) {
		return err
	}
	return sdk.Errorf(sdk.CodeUnavailable, "%s: %v", op, err)
}

// Interface guards.
var (
	_ sdk.Backend        = (*Store)(nil)
	_ sdk.SessionAdopter = (*Store)(nil)
	_ sdk.Closer         = (*Store)(nil)
)
