package host

import (
	"context"
	"sync"
	"time"

	"github.com/locksmithx/locksmith/sdk"
)

// followIdle is how long the host follows a resource for the chain's
// OnChange point after the last status read of it went through the chain.
const followIdle = 30 * time.Second

// follower follows, through the backend's watch, every resource whose
// status went through the chain, for as long as it is read, and tells the
// chain of each change (OnChange). When it stops following a resource it
// says so with a change of revision 0, so that a cache forgets what it
// holds of it. Without a hook at OnChange, or on a backend that cannot
// watch, it follows nothing.
type follower struct {
	ctx    context.Context
	cancel context.CancelFunc
	mu     sync.Mutex
	active map[string]time.Time // resource -> last read through the chain
	stops  []func()
}

func newFollower() *follower {
	ctx, cancel := context.WithCancel(context.Background())
	return &follower{ctx: ctx, cancel: cancel, active: map[string]time.Time{}}
}

// start follows resource from revision rev, or notes one more read of a
// resource already followed.
func (f *follower) start(h *Host, c *chain, backend, resource string, rev int64) {
	if f == nil || !c.Wants(hookOnChange) || f.ctx.Err() != nil {
		return
	}
	f.mu.Lock()
	_, on := f.active[resource]
	f.active[resource] = time.Now()
	f.mu.Unlock()
	if !on {
		go f.run(h, backend, resource, rev)
	}
}

// run follows one resource until it goes unread for followIdle, its watch
// ends, or the host closes.
func (f *follower) run(h *Host, backend, resource string, rev int64) {
	defer func() {
		f.mu.Lock()
		delete(f.active, resource)
		f.mu.Unlock()
		h.notifyNow(sdk.Interception{Op: sdk.OpChange, Resource: resource})
	}()
	slot := h.pipe.Load().slots[backend]
	if slot == nil {
		return
	}
	g, err := slot.sup.get(f.ctx)
	if err != nil || !g.info.Has(sdk.CapWatch) {
		return
	}
	ctx, cancel := context.WithCancel(f.ctx)
	defer cancel()
	go func() {
		t := time.NewTicker(followIdle / 3)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
				f.mu.Lock()
				idle := time.Since(f.active[resource]) > followIdle
				f.mu.Unlock()
				if idle {
					cancel()
					return
				}
			}
		}
	}()
	err = g.backend.Watch(ctx, resource, rev+1, func(ev sdk.Event) error {
		h.notifyNow(sdk.Interception{Op: sdk.OpChange, Resource: resource, Revision: ev.Rev})
		return nil
	})
	if err != nil && ctx.Err() == nil {
		h.log.Debug("watch for the hooks chain ended", "resource", resource, "error", err)
	}
}

// close stops following. It can safely be called more than once, and on
// nil.
func (f *follower) close() {
	if f == nil {
		return
	}
	f.cancel()
	f.mu.Lock()
	stops := f.stops
	f.stops = nil
	f.mu.Unlock()
	for _, stop := range stops {
		stop()
	}
}
