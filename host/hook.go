package host

import (
	"context"
	"time"

	"github.com/locksmithx/locksmith/hooks"
	"github.com/locksmithx/locksmith/sdk"
)

// WithHook adds an in-process Go hook to the host's chain. A hook whose
// Name is in the config's middleware list runs at that place, among the
// middleware plugins; the others run first (BEFORE) and last (AFTER), in
// the order they were added. A hook's error refuses the operation unless
// its plugins.NAME.on_error is fail_open.
func WithHook(h hooks.Hook) Option { return func(o *options) { o.hooks = append(o.hooks, h) } }

// Hooks is the host's chain, in order: what runs around each operation.
func (h *Host) Hooks() []hooks.Link {
	if c := h.chainNow(); !c.empty() {
		return c.Links()
	}
	return nil
}

// chainNow is the current pipeline's chain.
func (h *Host) chainNow() *chain {
	if p := h.pipe.Load(); p != nil {
		return p.chain
	}
	return nil
}

// notify runs a notification point on the chain in the background, so
// that a slow hook never holds up the lock engine.
func (h *Host) notify(in sdk.Interception) {
	p := h.pipe.Load()
	if p == nil || p.chain.empty() || !p.chain.Wants(hooks.PointOf(sdk.After, in.Op)) {
		return
	}
	c := p.chain
	in.Principal, in.PID, in.Host = c.principal, c.pid, c.hostname
	p.enter()
	go func() {
		defer p.leave()
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		c.Notify(ctx, in)
	}()
}

// hookOnChange is the point the follower serves.
const hookOnChange = hooks.OnChange

// notifyNow runs a notification point on the chain and returns when every
// hook has seen it.
func (h *Host) notifyNow(in sdk.Interception) {
	p := h.pipe.Load()
	if p == nil || p.chain.empty() {
		return
	}
	p.enter()
	defer p.leave()
	c := p.chain
	in.Principal, in.PID, in.Host = c.principal, c.pid, c.hostname
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c.Notify(ctx, in)
}

// renewed records a session renewal and tells the chain (AfterRenew).
func (h *Host) renewed(d time.Duration) {
	h.metrics.renewed(d)
	h.notify(sdk.Interception{Op: sdk.OpRenew, Latency: d})
}

// hookEvents tells chain c of the host's lost leases (OnLost) until c
// closes.
func (h *Host) hookEvents(c *chain) {
	if c.empty() || !c.Wants(hooks.OnLost) {
		return
	}
	events, stop := h.Subscribe(256)
	c.follow.mu.Lock()
	c.follow.stops = append(c.follow.stops, stop)
	c.follow.mu.Unlock()
	go func() {
		for ev := range events {
			if ev.Kind != EventLost || h.chainNow() != c {
				continue // a replaced chain's subscription, until it closes
			}
			in := sdk.Interception{Op: sdk.OpLost, Resource: ev.Resource, Mode: ev.Mode.String(), FencingToken: ev.Token}
			if ev.Err != nil {
				in.Result, in.ResultCode = ev.Err.Error(), resultCode(ev.Err)
			}
			h.notify(in)
		}
	}()
}
