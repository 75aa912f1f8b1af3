package host

import (
	"fmt"
	"sync"
	"sync/atomic"
)

// Owner is one actor that holds some locks while it waits for others: a
// transaction, a worker, a batch. Requests made with WithOwner(o) belong to
// o; the host follows who waits for whom among its owners and reports a
// wait-for cycle as ErrDeadlock to the request that closes it, instead of
// letting every member wait forever. Requests made without an owner each
// belong to an owner of their own.
type Owner struct {
	id   uint64
	name string
}

var ownerSeq atomic.Uint64

// NewOwner returns a new owner; name is used in deadlock reports.
func NewOwner(name string) *Owner { return &Owner{id: ownerSeq.Add(1), name: name} }

func (o *Owner) String() string {
	if o.name != "" {
		return o.name
	}
	return fmt.Sprintf("owner-%d", o.id)
}

// waitGraph is the host's wait-for graph: which owner has which entries,
// and which entries each waiting owner waits for.
type waitGraph struct {
	mu      sync.Mutex
	owners  map[string]*Owner   // entry key -> owner, for this host's entries
	waits   map[*Owner][]string // waiting owner -> keys it waits for
	changeC chan struct{}       // closed and replaced on every change
}

func newWaitGraph() *waitGraph {
	return &waitGraph{owners: map[string]*Owner{}, waits: map[*Owner][]string{}, changeC: make(chan struct{})}
}

// changed is closed at the next change of the graph.
func (g *waitGraph) changed() <-chan struct{} {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.changeC
}

func (g *waitGraph) broadcast() {
	close(g.changeC)
	g.changeC = make(chan struct{})
}

// own records that key belongs to o.
func (g *waitGraph) own(key string, o *Owner) {
	g.mu.Lock()
	g.owners[key] = o
	g.mu.Unlock()
}

// disown forgets key.
func (g *waitGraph) disown(key string) {
	g.mu.Lock()
	delete(g.owners, key)
	g.broadcast()
	g.mu.Unlock()
}

// waiting records that o waits for the entries keys. If that closes a
// cycle, o's wait is withdrawn from the graph and ErrDeadlock returned, so
// exactly one member of the cycle is told.
func (g *waitGraph) waiting(o *Owner, keys []string) error {
	g.mu.Lock()
	defer g.mu.Unlock()
	if same(g.waits[o], keys) {
		return nil
	}
	g.waits[o] = keys
	if path := g.cycleFrom(o); path != "" {
		delete(g.waits, o)
		g.broadcast()
		return fmt.Errorf("%w: %s", ErrDeadlock, path)
	}
	g.broadcast()
	return nil
}

// stopped records that o waits no more.
func (g *waitGraph) stopped(o *Owner) {
	g.mu.Lock()
	if _, ok := g.waits[o]; ok {
		delete(g.waits, o)
		g.broadcast()
	}
	g.mu.Unlock()
}

// cycleFrom returns a description of a wait-for cycle through start, or
// "" if there is none. g.mu is held.
func (g *waitGraph) cycleFrom(start *Owner) string {
	seen := map[*Owner]bool{}
	var walk func(o *Owner, path string) string
	walk = func(o *Owner, path string) string {
		for _, k := range g.waits[o] {
			next, ok := g.owners[k]
			if !ok || next == o {
				continue
			}
			step := path + " waits for " + next.String()
			if next == start {
				return step
			}
			if seen[next] {
				continue
			}
			seen[next] = true
			if p := walk(next, step); p != "" {
				return p
			}
		}
		return ""
	}
	return walk(start, start.String())
}

func same(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return a != nil
}
