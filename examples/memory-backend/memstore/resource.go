package memstore

import (
	"sort"

	"github.com/locksmithx/locksmith/sdk"
)

// resource is the state of one resource: its entries, its revision counter
// and the recent changes Watch can replay. Every field is guarded by the
// store's mutex.
type resource struct {
	rev     int64
	entries map[string]*sdk.Entry
	// log holds the latest changes, oldest first; compacted is the revision
	// of the newest change dropped from it (0: none dropped yet).
	log       []sdk.Event
	compacted int64
	// changed is closed, and replaced, on every change.
	changed chan struct{}
}

func newResource() *resource {
	return &resource{entries: map[string]*sdk.Entry{}, changed: make(chan struct{})}
}

// record appends ev to the log, keeping at most limit changes, and wakes
// the watchers. ev.Rev becomes the resource's revision.
func (r *resource) record(ev sdk.Event, limit int) {
	r.rev = ev.Rev
	r.log = append(r.log, ev)
	if n := len(r.log) - limit; n > 0 {
		r.compacted = r.log[n-1].Rev
		clear(r.log[:n])
		r.log = r.log[n:]
	}
	r.notify()
}

// remove deletes an entry as one change of its own.
func (r *resource) remove(key string, limit int) {
	old := r.entries[key]
	delete(r.entries, key)
	ev := sdk.Event{Type: sdk.EventDelete, Rev: r.rev + 1,
		Entry: sdk.Entry{Key: old.Key, Session: old.Session, CreateRev: old.CreateRev, ModRev: old.ModRev}}
	r.record(ev, limit)
}

func (r *resource) notify() {
	close(r.changed)
	r.changed = make(chan struct{})
}

// sorted returns copies of the entries in creation order.
func (r *resource) sorted() []sdk.Entry {
	out := make([]sdk.Entry, 0, len(r.entries))
	for _, e := range r.entries {
		c := *e
		c.Value = clone(e.Value)
		out = append(out, c)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].CreateRev < out[j].CreateRev })
	return out
}

// since returns copies of the logged changes with a revision >= from.
func (r *resource) since(from int64) []sdk.Event {
	i := sort.Search(len(r.log), func(i int) bool { return r.log[i].Rev >= from })
	out := make([]sdk.Event, len(r.log)-i)
	for j, ev := range r.log[i:] {
		ev.Entry.Value = clone(ev.Entry.Value)
		out[j] = ev
	}
	return out
}
