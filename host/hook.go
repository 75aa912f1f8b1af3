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
func (h *Host) Hooks() []hooks.Link { return h.chain.Links() }

// notify runs a notification point on the chain in the background, so
// that a slow hook never holds up the lock engine.
func (h *Host) notify(in sdk.Interception) {
	if h.chain.empty() || !h.chain.Wants(hooks.PointOf(sdk.After, in.Op)) {
		return
	}
	in.Principal, in.PID, in.Host = h.chain.principal, h.chain.pid, h.chain.hostname
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		h.chain.Notify(ctx, in)
	}()
}

// hookOnChange is the point the follower serves.
const hookOnChange = hooks.OnChange

// notifyNow runs a notification point on the chain and returns when every
// hook has seen it.
func (h *Host) notifyNow(in sdk.Interception) {
	if h.chain.empty() {
		return
	}
	in.Principal, in.PID, in.Host = h.chain.principal, h.chain.pid, h.chain.hostname
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	h.chain.Notify(ctx, in)
}

// renewed records a session renewal and tells the chain (AfterRenew).
func (h *Host) renewed(d time.Duration) {
	h.metrics.renewed(d)
	h.notify(sdk.Interception{Op: sdk.OpRenew, Latency: d})
}

// hookEvents tells the chain of the host's lost leases (OnLost) until
// the host closes.
func (h *Host) hookEvents() {
	if h.chain.empty() || !h.chain.Wants(hooks.OnLost) {
		return
	}
	events, stop := h.Subscribe(256)
	h.chain.follow.mu.Lock()
	h.chain.follow.stops = append(h.chain.follow.stops, stop)
	h.chain.follow.mu.Unlock()
	go func() {
		for ev := range events {
			if ev.Kind != EventLost {
				continue
			}
			in := sdk.Interception{Op: sdk.OpLost, Resource: ev.Resource, Mode: ev.Mode.String(), FencingToken: ev.Token}
			if ev.Err != nil {
				in.Result, in.ResultCode = ev.Err.Error(), resultCode(ev.Err)
			}
			h.notify(in)
		}
	}()
}
