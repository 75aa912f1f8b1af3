package consul

import (
	"context"
	"sync"
)

// gates lets one write per resource at a time through this process. The
// revision compare-and-swap already makes concurrent writers safe; the
// gate keeps writers of one process from failing each other's
// compare-and-swap, so that each of them commits on its first try from
// the snapshot the previous one left in the cache.
type gates struct {
	mu sync.Mutex
	m  map[string]*gate
}

type gate struct {
	ch   chan struct{}
	refs int
}

func newGates() *gates { return &gates{m: map[string]*gate{}} }

// enter waits for the resource's gate or for ctx to end. The returned
// function leaves the gate.
func (g *gates) enter(ctx context.Context, resource string) (func(), error) {
	g.mu.Lock()
	gt := g.m[resource]
	if gt == nil {
		gt = &gate{ch: make(chan struct{}, 1)}
		g.m[resource] = gt
	}
	gt.refs++
	g.mu.Unlock()
	select {
	case gt.ch <- struct{}{}:
		return func() {
			<-gt.ch
			g.unref(resource, gt)
		}, nil
	case <-ctx.Done():
		g.unref(resource, gt)
		return nil, ctx.Err()
	}
}

func (g *gates) unref(resource string, gt *gate) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if gt.refs--; gt.refs == 0 {
		delete(g.m, resource)
	}
}
