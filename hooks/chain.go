package hooks

import (
	"context"
	"fmt"

	"github.com/hashicorp/go-hclog"

	"github.com/locksmithx/locksmith/sdk"
)

// Link is a hook in its place in a chain.
type Link struct {
	Hook Hook
	// FailOpen lets an operation through when the hook fails (not when it
	// denies); by default a failure refuses the operation.
	FailOpen bool
}

// Chain runs hooks around operations: BEFORE in the chain's order, AFTER
// in reverse, each hook only at the points it declares. A Chain is
// immutable and safe for concurrent use; a nil or empty Chain runs
// nothing.
type Chain struct {
	links []Link
	log   hclog.Logger
}

// NewChain returns a chain of links, in order. log receives fail-open
// failures and failures in AFTER, which cannot refuse anything.
func NewChain(log hclog.Logger, links ...Link) *Chain {
	if log == nil {
		log = hclog.NewNullLogger()
	}
	return &Chain{links: links, log: log}
}

// Links returns the chain's links, in order.
func (c *Chain) Links() []Link {
	if c == nil {
		return nil
	}
	return append([]Link(nil), c.links...)
}

// Empty reports whether the chain runs nothing (c may be nil).
func (c *Chain) Empty() bool { return c == nil || len(c.links) == 0 }

// Wants reports whether any hook runs at p.
func (c *Chain) Wants(p Point) bool {
	if c == nil {
		return false
	}
	for _, l := range c.links {
		if l.Hook.Points().Has(p) {
			return true
		}
	}
	return false
}

// Outcome is what BEFORE left of an operation.
type Outcome struct {
	// Metadata is the request's metadata as the hooks rewrote it.
	Metadata map[string]string
	// Answer, when not nil, is a read's answer given by the hook named
	// AnsweredBy: the backend is not asked.
	Answer     []byte
	AnsweredBy string
}

// Before runs the BEFORE phase of in.Op in the chain's order and stops at
// the first hook that denies the operation, answers it (a read), or fails
// while fail-closed. The error is a *Denial.
func (c *Chain) Before(ctx context.Context, in sdk.Interception) (Outcome, error) {
	in.Phase = sdk.Before
	p := PointOf(sdk.Before, in.Op)
	if c == nil || p == "" {
		return Outcome{Metadata: in.Metadata}, nil
	}
	for _, l := range c.links {
		if !l.Hook.Points().Has(p) {
			continue
		}
		v, err := l.Hook.Intercept(ctx, in)
		if err != nil {
			if l.FailOpen {
				c.log.Warn("hook failed; letting the operation through (fail_open)", "hook", l.Hook.Name(), "point", p, "resource", in.Resource, "error", err)
				continue
			}
			return Outcome{}, &Denial{Hook: l.Hook.Name(), Err: err}
		}
		switch v.Action {
		case sdk.Deny:
			return Outcome{}, &Denial{Hook: l.Hook.Name(), Reason: v.Reason}
		case sdk.Respond:
			if !sdk.IsRead(in.Op) {
				return Outcome{}, &Denial{Hook: l.Hook.Name(), Err: fmt.Errorf("%w: %s", ErrBadVerdict, in.Op)}
			}
			return Outcome{Metadata: in.Metadata, Answer: v.Response, AnsweredBy: l.Hook.Name()}, nil
		}
		if v.RewriteMetadata {
			in.Metadata = v.Metadata
		}
	}
	return Outcome{Metadata: in.Metadata}, nil
}

// After runs the AFTER phase of in.Op in reverse order; every hook that
// declares the point sees it, whether the operation succeeded, failed or
// was denied. A hook may replace a read's answer (in.Response) by
// answering Respond; After returns the answer as the chain left it. A
// fail-closed hook that fails on a read fails the read (a *Denial), after
// the rest of the chain has run; a failure on anything else cannot undo
// it and is logged.
func (c *Chain) After(ctx context.Context, in sdk.Interception) ([]byte, error) {
	in.Phase = sdk.After
	p := PointOf(sdk.After, in.Op)
	if c == nil || p == "" {
		return in.Response, nil
	}
	read := sdk.IsRead(in.Op) && in.Response != nil
	var first error
	for i := len(c.links) - 1; i >= 0; i-- {
		l := c.links[i]
		if !l.Hook.Points().Has(p) {
			continue
		}
		v, err := l.Hook.Intercept(ctx, in)
		if err != nil {
			if read && !l.FailOpen && first == nil {
				first = &Denial{Hook: l.Hook.Name(), Err: err}
				continue
			}
			c.log.Warn("hook failed after the operation", "hook", l.Hook.Name(), "point", p, "resource", in.Resource, "error", err)
			continue
		}
		if v.Action == sdk.Respond && read {
			in.Response = v.Response
		}
	}
	if first != nil {
		return nil, first
	}
	return in.Response, nil
}

// Notify runs a notification point (AfterRenew, OnLost, OnChange) on
// every hook that declares it, in the chain's order. Nothing can be
// refused there: failures are logged.
func (c *Chain) Notify(ctx context.Context, in sdk.Interception) {
	in.Phase = sdk.After
	p := PointOf(sdk.After, in.Op)
	if c == nil || p == "" {
		return
	}
	for _, l := range c.links {
		if !l.Hook.Points().Has(p) {
			continue
		}
		if _, err := l.Hook.Intercept(ctx, in); err != nil {
			c.log.Warn("hook failed on a notification", "hook", l.Hook.Name(), "point", p, "resource", in.Resource, "error", err)
		}
	}
}
