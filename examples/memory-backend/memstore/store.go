// Package memstore is a Locksmith backend that keeps its whole state in the
// memory of its plugin process. It is written only against the sdk package,
// the way a third-party backend is, and passes sdk/backendtest.
//
// Sessions expire on a timer when they are not kept alive, every resource
// has its own revision counter, and Watch replays a bounded history of
// changes: a watch from a revision older than that history fails with
// sdk.ErrCompacted. Nothing survives the process, so the store does not
// announce sdk.CapPersistent.
package memstore

import (
	"context"
	"sort"
	"strings"
	"sync"

	"github.com/locksmithx/locksmith/sdk"
)

// DefaultHistory is how many changes per resource Watch can replay unless
// configured otherwise.
const DefaultHistory = 1000

// Config is the store's section of the host config.
type Config struct {
	// History is how many changes per resource Watch can replay.
	History int `json:"history"`
}

const configSchema = `{
  "type": "object",
  "properties": {
    "history": {"type": "integer", "minimum": 1, "description": "changes per resource that Watch can replay"}
  },
  "additionalProperties": false
}`

// Store is an in-memory sdk.Backend. The zero value is not usable; call New.
// All methods are safe for concurrent use.
type Store struct {
	mu        sync.Mutex
	history   int
	resources map[string]*resource
	sessions  map[string]*session
	closed    bool
}

// New returns an empty store with the default configuration.
func New() *Store {
	return &Store{
		history:   DefaultHistory,
		resources: map[string]*resource{},
		sessions:  map[string]*session{},
	}
}

// Info describes the store.
func (s *Store) Info(context.Context) (sdk.PluginInfo, error) {
	return sdk.PluginInfo{
		Name:         "memory",
		Version:      "0.1.0",
		Kind:         sdk.KindBackend,
		Capabilities: []string{sdk.CapWatch, sdk.CapRepair, sdk.CapDeleteRange},
		ConfigSchema: configSchema,
		Warnings:     []string{"state lives in the plugin's memory: it is lost, and revisions restart, when the plugin exits"},
	}, nil
}

// Configure applies cfg. An unknown key or a history below 1 is an error
// wrapping sdk.ErrInvalidConfig.
func (s *Store) Configure(_ context.Context, cfg sdk.Config) error {
	c := Config{History: DefaultHistory}
	if err := cfg.Decode(&c); err != nil {
		return err
	}
	if c.History < 1 {
		return sdk.Errorf(sdk.CodeInvalidConfig, "history: must be at least 1, got %d", c.History)
	}
	s.mu.Lock()
	s.history = c.History
	s.mu.Unlock()
	return nil
}

// Health reports sdk.ErrUnavailable once the store is closed.
func (s *Store) Health(context.Context) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.usable()
}

// Close stops the session timers and ends every Watch with
// sdk.ErrUnavailable. Later calls fail the same way. Close can safely be
// called more than once.
func (s *Store) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil
	}
	s.closed = true
	for _, sess := range s.sessions {
		sess.timer.Stop()
	}
	for _, r := range s.resources {
		r.notify()
	}
	return nil
}

// usable reports why the store cannot serve a call. s.mu is held.
func (s *Store) usable() error {
	if s.closed {
		return sdk.Errorf(sdk.CodeUnavailable, "memory store is closed")
	}
	return nil
}

// resource returns the named resource, creating it. s.mu is held.
func (s *Store) resource(name string) *resource {
	r, ok := s.resources[name]
	if !ok {
		r = newResource()
		s.resources[name] = r
	}
	return r
}

// Put creates or replaces an entry. A replaced entry keeps its CreateRev
// and passes to req.Session.
func (s *Store) Put(_ context.Context, req sdk.PutRequest) (sdk.PutResult, error) {
	if err := validKey(req.Resource, req.Key); err != nil {
		return sdk.PutResult{}, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.usable(); err != nil {
		return sdk.PutResult{}, err
	}
	sess, err := s.live(req.Session)
	if err != nil {
		return sdk.PutResult{}, err
	}
	r := s.resource(req.Resource)
	old, exists := r.entries[req.Key]
	if exists && req.IfAbsent {
		return sdk.PutResult{}, sdk.Errorf(sdk.CodeExists, "put %s %s: entry exists", req.Resource, req.Key)
	}
	rev := r.rev + 1
	e := &sdk.Entry{Key: req.Key, Value: clone(req.Value), Session: sess.id, CreateRev: rev, ModRev: rev}
	if exists {
		e.CreateRev = old.CreateRev
		if owner := s.sessions[old.Session]; owner != nil {
			owner.unlink(req.Resource, req.Key)
		}
	}
	r.entries[req.Key] = e
	sess.link(req.Resource, req.Key)
	r.record(sdk.Event{Type: sdk.EventPut, Entry: *e, Rev: rev}, s.history)
	res := sdk.PutResult{CreateRev: e.CreateRev, ModRev: e.ModRev, Rev: r.rev}
	if req.WithRange {
		res.Entries = r.sorted()
	}
	return res, nil
}

// Update replaces the value of an entry whose ModRev is req.ExpectRev, and,
// with req.ExpectResourceRev set, only if the resource is still at that
// revision.
func (s *Store) Update(_ context.Context, req sdk.UpdateRequest) (sdk.UpdateResult, error) {
	if err := validKey(req.Resource, req.Key); err != nil {
		return sdk.UpdateResult{}, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.usable(); err != nil {
		return sdk.UpdateResult{}, err
	}
	r := s.resource(req.Resource)
	old, ok := r.entries[req.Key]
	if !ok {
		return sdk.UpdateResult{}, sdk.Errorf(sdk.CodeNotFound, "update %s %s: no such entry", req.Resource, req.Key)
	}
	if old.ModRev != req.ExpectRev {
		return sdk.UpdateResult{}, sdk.Errorf(sdk.CodeRevMismatch, "update %s %s: revision is %d, not %d", req.Resource, req.Key, old.ModRev, req.ExpectRev)
	}
	if req.ExpectResourceRev != 0 && r.rev != req.ExpectResourceRev {
		return sdk.UpdateResult{}, sdk.Errorf(sdk.CodeRevMismatch, "update %s %s: resource revision is %d, not %d", req.Resource, req.Key, r.rev, req.ExpectResourceRev)
	}
	rev := r.rev + 1
	e := &sdk.Entry{Key: old.Key, Value: clone(req.Value), Session: old.Session, CreateRev: old.CreateRev, ModRev: rev}
	r.entries[req.Key] = e
	r.record(sdk.Event{Type: sdk.EventPut, Entry: *e, Rev: rev}, s.history)
	return sdk.UpdateResult{ModRev: rev, Rev: r.rev}, nil
}

// Delete removes an entry whose ModRev is req.ExpectRev (0: any).
func (s *Store) Delete(_ context.Context, req sdk.DeleteRequest) (sdk.DeleteResult, error) {
	if err := validKey(req.Resource, req.Key); err != nil {
		return sdk.DeleteResult{}, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.usable(); err != nil {
		return sdk.DeleteResult{}, err
	}
	r := s.resource(req.Resource)
	old, ok := r.entries[req.Key]
	if !ok {
		return sdk.DeleteResult{}, sdk.Errorf(sdk.CodeNotFound, "delete %s %s: no such entry", req.Resource, req.Key)
	}
	if req.ExpectRev != 0 && old.ModRev != req.ExpectRev {
		return sdk.DeleteResult{}, sdk.Errorf(sdk.CodeRevMismatch, "delete %s %s: revision is %d, not %d", req.Resource, req.Key, old.ModRev, req.ExpectRev)
	}
	if owner := s.sessions[old.Session]; owner != nil {
		owner.unlink(req.Resource, req.Key)
	}
	r.remove(req.Key, s.history)
	res := sdk.DeleteResult{Rev: r.rev}
	if req.WithRange {
		res.Entries = r.sorted()
	}
	return res, nil
}

// Range returns the resource's entries in creation order.
func (s *Store) Range(_ context.Context, resource string) (sdk.RangeResult, error) {
	if resource == "" {
		return sdk.RangeResult{}, sdk.Errorf(sdk.CodeInvalidArgument, "range: empty resource name")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.usable(); err != nil {
		return sdk.RangeResult{}, err
	}
	r, ok := s.resources[resource]
	if !ok {
		return sdk.RangeResult{}, nil
	}
	return sdk.RangeResult{Rev: r.rev, Entries: r.sorted()}, nil
}

// Resources lists, in lexical order, the resources with live entries whose
// names start with prefix.
func (s *Store) Resources(_ context.Context, prefix string) ([]string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.usable(); err != nil {
		return nil, err
	}
	var out []string
	for name, r := range s.resources {
		if len(r.entries) > 0 && strings.HasPrefix(name, prefix) {
			out = append(out, name)
		}
	}
	sort.Strings(out)
	return out, nil
}

func validKey(resource, key string) error {
	if resource == "" || key == "" {
		return sdk.Errorf(sdk.CodeInvalidArgument, "resource and key must not be empty (resource %q, key %q)", resource, key)
	}
	return nil
}

func clone(b []byte) []byte {
	if b == nil {
		return nil
	}
	return append([]byte(nil), b...)
}

// Interface guards.
var (
	_ sdk.Backend = (*Store)(nil)
	_ sdk.Closer  = (*Store)(nil)
)
