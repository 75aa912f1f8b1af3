package sdk

import (
	"context"
	"os"
	"time"
)

// Backend is a leased, revisioned key-value store with watch: the contract
// every backend plugin implements. The host builds every lock recipe on it.
//
// Keys are (resource, key) pairs. Within one resource:
//   - a revision counter strictly increases with every change (put, update,
//     delete, and the removal of a dead session's entries) and never goes
//     backwards, not even across a restart of the store where the store
//     announces CapPersistent;
//   - every entry records the revision that created it (CreateRev) and the
//     one that last changed it (ModRev);
//   - Range returns entries in creation order.
//
// Nothing is promised across resources, which lets a store shard by
// resource.
//
// Entries belong to a session. When a session is revoked, or expires
// because it was not kept alive within its TTL, all its entries are removed
// (each removal is a revision, visible to Watch) and none is ever reported
// live again.
//
// All methods are safe for concurrent use.
type Backend interface {
	Plugin

	// OpenSession creates a session that lives for ttl unless kept alive.
	// The store may round ttl; the returned Session says what it granted.
	OpenSession(ctx context.Context, ttl time.Duration, meta map[string]string) (Session, error)
	// KeepAlive renews a session for another TTL and returns that TTL, or
	// ErrSessionExpired when the session is already gone.
	KeepAlive(ctx context.Context, session string) (time.Duration, error)
	// Revoke ends a session and removes its entries. Revoking an unknown or
	// ended session is not an error.
	Revoke(ctx context.Context, session string) error

	// Put creates or replaces the entry (Resource, Key), owned by Session.
	// With IfAbsent it fails with ErrExists when the key is present. With
	// WithRange the result also holds the resource's entries after the put,
	// taken atomically with it. A dead session gives ErrSessionExpired.
	Put(ctx context.Context, req PutRequest) (PutResult, error)
	// Update replaces the value of an existing entry if its ModRev equals
	// ExpectRev (compare-and-swap), keeping its CreateRev. A missing entry
	// gives ErrNotFound; another revision gives ErrRevMismatch. With
	// ExpectResourceRev set, the update also requires that the resource's
	// revision still equals it (nothing in the resource changed since the
	// caller read it), else ErrRevMismatch: the host decides lock
	// conversions on a snapshot and must know the snapshot is current.
	Update(ctx context.Context, req UpdateRequest) (UpdateResult, error)
	// Delete removes an entry if its ModRev equals ExpectRev (0: any). A
	// missing entry gives ErrNotFound; another revision ErrRevMismatch.
	Delete(ctx context.Context, req DeleteRequest) (DeleteResult, error)
	// Range returns the resource's live entries in creation order and the
	// resource's current revision.
	Range(ctx context.Context, resource string) (RangeResult, error)
	// Watch calls send, in revision order, for every change of the resource
	// with a revision >= fromRev, until ctx ends (returning ctx's error),
	// send returns an error (returning it), or the store fails. A fromRev the
	// store no longer has history for gives ErrCompacted. A watch may hold
	// changes back until one of the keys WakeOn(ctx) names changes (see
	// WithWakeOn).
	Watch(ctx context.Context, resource string, fromRev int64, send func(Event) error) error
	// Resources lists the resources with state in the store whose names
	// start with prefix, where the store can enumerate them.
	Resources(ctx context.Context, prefix string) ([]string, error)
	// Check inspects the stored state of one resource ("" for all the store
	// can find) and reports problems without changing anything.
	Check(ctx context.Context, resource string) ([]Problem, error)
	// Repair fixes what Check reports and says what it did.
	Repair(ctx context.Context, resource string) ([]Problem, error)
}

// Session is an open session: its id and the TTL the store granted.
type Session struct {
	ID  string
	TTL time.Duration
	// Anchor, when a backend sets it, is an open file that keeps the
	// session alive for as long as some process holds a descriptor of it
	// (the file backend's locked session file). It never travels as data:
	// the sdk sends a copy of its descriptor to the host, which holds it
	// while the session lives, so the session outlives a crash of the
	// plugin process and a restarted plugin can adopt it (see
	// SessionAdopter). In a plugin, the backend keeps owning Anchor. In the
	// host, Session.Anchor returned by a plugin's OpenSession is the host's
	// own copy, which the host closes when it is done with the session.
	Anchor *os.File
}

// Entry is one key of a resource.
type Entry struct {
	Key       string
	Value     []byte
	Session   string
	CreateRev int64
	ModRev    int64
}

// EventType says what happened to an entry.
type EventType int

// The event types.
const (
	EventPut EventType = iota
	EventDelete
)

// String names the event type: "put" or "delete".
func (t EventType) String() string {
	if t == EventDelete {
		return "delete"
	}
	return "put"
}

// Event is one change of a resource. For a delete, Entry holds the key and
// session of the removed entry (its value may be empty) and Rev the
// revision of the removal.
type Event struct {
	Type  EventType
	Entry Entry
	Rev   int64
}

// PutRequest is the argument of Backend.Put.
type PutRequest struct {
	Resource  string
	Key       string
	Value     []byte
	Session   string
	IfAbsent  bool
	WithRange bool
}

// PutResult is what Put did. Entries is set only for WithRange.
type PutResult struct {
	CreateRev int64
	ModRev    int64
	Rev       int64
	Entries   []Entry
}

// UpdateRequest is the argument of Backend.Update.
type UpdateRequest struct {
	Resource  string
	Key       string
	Value     []byte
	ExpectRev int64
	// ExpectResourceRev, when non-zero, is the revision the whole
	// resource must still be at.
	ExpectResourceRev int64
}

// UpdateResult is what Update did.
type UpdateResult struct {
	ModRev int64
	Rev    int64
}

// DeleteRequest is the argument of Backend.Delete.
type DeleteRequest struct {
	Resource  string
	Key       string
	ExpectRev int64
	// WithRange asks for the resource's entries after the delete, read
	// atomically with it: the queue at revision Rev. Only a backend that
	// announces CapDeleteRange must answer it; others may ignore it.
	WithRange bool
}

// DeleteResult is what Delete did. Entries is set only for WithRange, on
// a backend with CapDeleteRange.
type DeleteResult struct {
	Rev     int64
	Entries []Entry
}

// RangeResult is the state of a resource at revision Rev.
type RangeResult struct {
	Rev     int64
	Entries []Entry
}

// Problem is something Check found (or Repair fixed) in stored state.
type Problem struct {
	Resource string
	// Path locates the damaged state in the store (a file path, a key).
	Path     string
	Message  string
	Repaired bool
}
