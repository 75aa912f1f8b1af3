package host

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"
)

// Hierarchical locks name with multi-granularity locking, as databases
// do: "a/b/c" in mode m takes an intention lock on "a", then on "a/b",
// then m on "a/b/c", in that order. Readers (S, IS) take IS on the
// ancestors; writers (X, U, IX, SIX) take IX. So an exclusive lock on "a"
// waits for every holder below it, and a holder below waits for it;
// siblings "a/b" and "a/c" do not touch each other.
//
// The returned lease is the leaf's; releasing it releases the ancestors
// too, leaf first. Converting it converts the ancestors' intention modes
// as needed. Its Token is the leaf's fencing token.
func (h *Host) Hierarchical(ctx context.Context, name string, opts ...LockOption) (*Lease, error) {
	leaf, err := NamedResource(name)
	if err != nil {
		return nil, err
	}
	parts := strings.Split(leaf, "/")
	for _, p := range parts {
		if strings.TrimSpace(p) == "" {
			return nil, fmt.Errorf("%w: hierarchical name %q has an empty part", ErrInvalidArgument, name)
		}
	}
	o := lockOptions{mode: Exclusive}
	for _, opt := range opts {
		opt(&o)
	}
	owner := o.owner
	if owner == nil {
		owner = NewOwner(leaf)
	}
	intent := intentionFor(o.mode)
	var ancestors []*Lease
	for i := 1; i < len(parts); i++ {
		res := strings.Join(parts[:i], "/")
		a, err := h.Acquire(ctx, res, WithMode(intent), WithOwner(owner), withNoWait(o.noWait), WithBackend(o.backend))
		if err != nil {
			releaseAll(ancestors)
			return nil, fmt.Errorf("hierarchical %s: %w", leaf, err)
		}
		ancestors = append(ancestors, a)
	}
	l, err := h.Acquire(ctx, leaf, append(opts, WithOwner(owner))...)
	if err != nil {
		releaseAll(ancestors)
		return nil, err
	}
	l.mu.Lock()
	l.ancestors = ancestors
	l.mu.Unlock()
	return l, nil
}

// intentionFor is the mode a request of mode m takes on its ancestors.
func intentionFor(m Mode) Mode {
	if m == Shared || m == IntentShared {
		return IntentShared
	}
	return IntentExclusive
}

func withNoWait(on bool) LockOption { return func(o *lockOptions) { o.noWait = on } }

// leaves returns the leases the host holds, less the ancestors of
// hierarchical leases, sorted by resource (so a prefix of a resource
// comes before it).
func (h *Host) leaves() []*Lease {
	h.mu.Lock()
	all := make([]*Lease, 0, len(h.leases))
	for l := range h.leases {
		all = append(all, l)
	}
	h.mu.Unlock()
	// l.mu is taken with h.mu released: a lease that ends holds its own
	// mu while it takes h.mu to be forgotten.
	ancestor := map[*Lease]bool{}
	for _, l := range all {
		l.mu.Lock()
		for _, a := range l.ancestors {
			ancestor[a] = true
		}
		l.mu.Unlock()
	}
	out := all[:0]
	for _, l := range all {
		if !ancestor[l] {
			out = append(out, l)
		}
	}
	sort.SliceStable(out, func(i, j int) bool {
		if out[i].resource != out[j].resource {
			return out[i].resource < out[j].resource
		}
		return out[i].token < out[j].token
	})
	return out
}

// releaseAll releases leases in reverse order, best effort.
func releaseAll(ls []*Lease) error {
	var errs []error
	for i := len(ls) - 1; i >= 0; i-- {
		if err := ls[i].Release(context.Background()); err != nil && !errors.Is(err, ErrNotHeld) {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}
