package host

import (
	"fmt"
	"strings"
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
//
// A cycle is broken by refusing its youngest request, the one made last
// (ErrDeadlock), whichever member's wait happened to close it: who closes
// a cycle depends on how the members' goroutines were scheduled, which
// request is youngest does not. A member told of a cycle by another's
// wait is marked, woken (changed), and refused at its next look.
type waitGraph struct {
	mu      sync.Mutex
	owners  map[string]*Owner   // entry key -> owner, for this host's entries
	seq     map[string]uint64   // entry key -> when its request (or conversion) was made
	waits   map[*Owner][]string // waiting owner -> keys it waits for
	req     map[*Owner]string   // waiting owner -> the entry that waits
	victims map[*Owner]string   // owner to refuse -> the cycle, as it will be told
	next    uint64
	changeC chan struct{} // closed and replaced on every change
}

func newWaitGraph() *waitGraph {
	return &waitGraph{owners: map[string]*Owner{}, seq: map[string]uint64{}, waits: map[*Owner][]string{},
		req: map[*Owner]string{}, victims: map[*Owner]string{}, changeC: make(chan struct{})}
}

// changed is closed at the next change of the graph. A waiter takes it
// before it looks at the graph, so that no change between its look and
// its sleep goes unseen.
func (g *waitGraph) changed() <-chan struct{} {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.changeC
}

func (g *waitGraph) broadcast() {
	close(g.changeC)
	g.changeC = make(chan struct{})
}

// own records that key belongs to o, as a request made now.
func (g *waitGraph) own(key string, o *Owner) {
	g.mu.Lock()
	g.owners[key] = o
	g.next++
	g.seq[key] = g.next
	g.mu.Unlock()
}

// started records that the request key begins a new wait now (a
// conversion): for breaking a cycle, its age counts from here.
func (g *waitGraph) started(key string) {
	g.mu.Lock()
	g.next++
	g.seq[key] = g.next
	g.mu.Unlock()
}

// disown forgets key.
func (g *waitGraph) disown(key string) {
	g.mu.Lock()
	delete(g.owners, key)
	delete(g.seq, key)
	g.broadcast()
	g.mu.Unlock()
}

// waiting records that o's request req waits for the entries keys. If
// that closes a cycle whose youngest request is o's, or o was marked by
// another member's wait, o's wait is withdrawn from the graph and
// ErrDeadlock returned, so exactly one member of the cycle is told.
func (g *waitGraph) waiting(o *Owner, req string, keys []string) error {
	g.mu.Lock()
	defer g.mu.Unlock()
	if path, ok := g.victims[o]; ok {
		g.forget(o)
		g.broadcast()
		return fmt.Errorf("%w: %s", ErrDeadlock, path)
	}
	if g.req[o] == req && same(g.waits[o], keys) {
		return nil
	}
	g.waits[o], g.req[o] = keys, req
	if cycle := g.cycleFrom(o); cycle != nil {
		v := cycle[0]
		for _, m := range cycle[1:] {
			if g.seq[g.req[m]] > g.seq[g.req[v]] {
				v = m
			}
		}
		path := describe(g.cycleFrom(v))
		if v == o {
			g.forget(o)
			g.broadcast()
			return fmt.Errorf("%w: %s", ErrDeadlock, path)
		}
		g.victims[v] = path
	}
	g.broadcast()
	return nil
}

// stopped records that o waits no more.
func (g *waitGraph) stopped(o *Owner) {
	g.mu.Lock()
	if _, ok := g.waits[o]; ok {
		g.forget(o)
		g.broadcast()
	}
	delete(g.victims, o)
	g.mu.Unlock()
}

// forget removes o's wait. g.mu is held.
func (g *waitGraph) forget(o *Owner) {
	delete(g.waits, o)
	delete(g.req, o)
	delete(g.victims, o)
}

// cycleFrom returns the owners of a wait-for cycle through start, start
// first, or nil if there is none. g.mu is held.
func (g *waitGraph) cycleFrom(start *Owner) []*Owner {
	seen := map[*Owner]bool{}
	var walk func(o *Owner, path []*Owner) []*Owner
	walk = func(o *Owner, path []*Owner) []*Owner {
		for _, k := range g.waits[o] {
			next, ok := g.owners[k]
			if !ok || next == o {
				continue
			}
			if next == start {
				return path
			}
			if seen[next] {
				continue
			}
			seen[next] = true
			if p := walk(next, append(path, next)); p != nil {
				return p
			}
		}
		return nil
	}
	return walk(start, []*Owner{start})
}

// describe tells a cycle as "a waits for b waits for a".
func describe(cycle []*Owner) string {
	var b strings.Builder
	for _, o := range cycle {
		b.WriteString(o.String())
		b.WriteString(" waits for ")
	}
	b.WriteString(cycle[0].String())
	return b.String()
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
