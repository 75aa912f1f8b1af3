package consul

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"sync"

	"github.com/hashicorp/consul/api"

	"github.com/locksmithx/locksmith/sdk"
)

// stored is one entry as read from Consul.
type stored struct {
	key    string
	kv     string
	rec    record
	holder string // the KV entry's Session: "" once Consul released it
	index  uint64 // the KV entry's ModifyIndex
}

// dead reports whether Consul released the entry: its session ended.
func (e stored) dead() bool { return e.holder == "" }

func (e stored) entry() sdk.Entry {
	return sdk.Entry{Key: e.key, Value: e.rec.value, Session: e.rec.session, CreateRev: e.rec.createRev, ModRev: e.rec.modRev}
}

// snapshot is a resource's state as of one ModifyIndex of its revision
// key: a write that compare-and-swaps that index applies on exactly this
// state.
type snapshot struct {
	index   uint64 // ModifyIndex of the revision key; 0 if it does not exist
	rev     int64  // the revision counter
	entries []stored
}

func (s *snapshot) find(key string) int {
	for i, e := range s.entries {
		if e.key == key {
			return i
		}
	}
	return -1
}

// live returns the entries of live sessions in creation order.
func (s *snapshot) live() []sdk.Entry {
	out := make([]sdk.Entry, 0, len(s.entries))
	for _, e := range s.entries {
		if !e.dead() {
			out = append(out, e.entry())
		}
	}
	return out
}

func (s *snapshot) dead() []stored {
	var out []stored
	for _, e := range s.entries {
		if e.dead() {
			out = append(out, e)
		}
	}
	return out
}

func (s *snapshot) clone() *snapshot {
	return &snapshot{index: s.index, rev: s.rev, entries: slices.Clone(s.entries)}
}

// parseSnapshot builds a snapshot of resource from the KV pairs under its
// prefix (the revision key and the entries).
func (c *conn) parseSnapshot(resource string, pairs []*api.KVPair) (*snapshot, error) {
	s := &snapshot{}
	revKey := c.keys.rev(resource)
	for _, p := range pairs {
		if p == nil {
			continue
		}
		if p.Key == revKey {
			v, err := strconv.ParseInt(string(p.Value), 10, 64)
			if err != nil || v < 0 {
				return nil, sdk.Errorf(sdk.CodeCorrupt, "consul: %s holds %q, not a revision: run `locksmith repair`", p.Key, p.Value)
			}
			s.index, s.rev = p.ModifyIndex, v
			continue
		}
		key, ok := c.keys.entryKey(resource, p.Key)
		if !ok {
			continue
		}
		rec, err := decodeRecord(p.Value)
		if err != nil {
			return nil, sdk.Errorf(sdk.CodeCorrupt, "consul: entry %s: %v: run `locksmith repair`", p.Key, err)
		}
		s.entries = append(s.entries, stored{key: key, kv: p.Key, rec: rec, holder: p.Session, index: p.ModifyIndex})
	}
	slices.SortFunc(s.entries, func(a, b stored) int { return int(a.rec.createRev - b.rec.createRev) })
	return s, nil
}

// read reads a resource's snapshot: one consistent get-tree of its
// revision key and entries.
func (c *conn) read(ctx context.Context, resource string) (*snapshot, error) {
	pairs, _, err := c.api.KV().List(c.keys.resource(resource), (&api.QueryOptions{}).WithContext(ctx))
	if err != nil {
		return nil, c.fail(fmt.Sprintf("read %q", resource), err)
	}
	s, err := c.parseSnapshot(resource, pairs)
	if err != nil {
		return nil, err
	}
	c.cache.put(resource, s)
	return s, nil
}

// snapshots caches the last snapshot this process saw of each resource,
// so that a write can be tried on it without reading first. A stale one
// costs a failed compare-and-swap and a read; it is never trusted beyond
// that.
type snapshots struct {
	mu sync.Mutex
	m  map[string]*snapshot
}

const maxCached = 4096

func newSnapshots() *snapshots { return &snapshots{m: map[string]*snapshot{}} }

func (c *snapshots) get(resource string) *snapshot {
	c.mu.Lock()
	defer c.mu.Unlock()
	if s, ok := c.m[resource]; ok {
		return s.clone()
	}
	return nil
}

// put keeps s unless a newer snapshot of the resource is already kept.
func (c *snapshots) put(resource string, s *snapshot) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if old, ok := c.m[resource]; ok && old.index > s.index {
		return
	}
	if len(c.m) >= maxCached {
		clear(c.m)
	}
	c.m[resource] = s.clone()
}

func (c *snapshots) drop(resource string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	delete(c.m, resource)
}

// liveEntry returns the entry key unless it is missing or dead.
func (s *snapshot) liveEntry(key string) (stored, bool) {
	i := s.find(key)
	if i < 0 || s.entries[i].dead() {
		return stored{}, false
	}
	return s.entries[i], true
}
