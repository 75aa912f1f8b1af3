package host

import (
	"context"
	"errors"
	"fmt"
	"sort"
)

// BatchRequest is one lock of a batch.
type BatchRequest struct {
	// Resource is a normalised resource key (see FileResource,
	// NamedResource).
	Resource string
	Mode     Mode // default Exclusive
	// Limit makes the resource a semaphore (see WithLimit).
	Limit int
}

// Batch is a set of leases taken together and released together.
type Batch struct {
	Leases []*Lease
}

// BatchError says which resource of a batch could not be locked.
type BatchError struct {
	Resource string
	Err      error
}

func (e *BatchError) Error() string { return fmt.Sprintf("batch: lock %s: %v", e.Resource, e.Err) }
func (e *BatchError) Unwrap() error { return e.Err }

// LockBatch takes every request or none. Requests are taken one by one in
// one canonical order (sorted by resource), so that two batches can never
// wait for each other; a failure part way releases what was taken and
// returns a *BatchError naming the resource that failed, wrapping the
// cause (ErrConflict, ErrTimeout, ErrDeadlock, …). opts apply to every
// request (NoWait, WithMeta, WithOwner); the batch is one owner for
// deadlock detection.
func (h *Host) LockBatch(ctx context.Context, reqs []BatchRequest, opts ...LockOption) (*Batch, error) {
	sorted := append([]BatchRequest(nil), reqs...)
	sort.Slice(sorted, func(i, j int) bool { return sorted[i].Resource < sorted[j].Resource })
	for i := 1; i < len(sorted); i++ {
		if sorted[i].Resource == sorted[i-1].Resource {
			return nil, fmt.Errorf("%w: batch names %s twice", ErrInvalidConfig, sorted[i].Resource)
		}
	}
	o := lockOptions{}
	for _, opt := range opts {
		opt(&o)
	}
	owner := o.owner
	if owner == nil {
		owner = NewOwner("batch")
	}
	b := &Batch{}
	for _, r := range sorted {
		mode := r.Mode
		if mode == 0 {
			mode = Exclusive
		}
		l, err := h.Acquire(ctx, r.Resource, append(append([]LockOption(nil), opts...),
			WithMode(mode), WithLimit(r.Limit), WithOwner(owner))...)
		if err != nil {
			releaseAll(b.Leases)
			return nil, &BatchError{Resource: r.Resource, Err: err}
		}
		b.Leases = append(b.Leases, l)
	}
	return b, nil
}

// Release releases every lease of the batch, in reverse order.
func (b *Batch) Release(ctx context.Context) error {
	var errs []error
	for i := len(b.Leases) - 1; i >= 0; i-- {
		if err := b.Leases[i].Release(ctx); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// Lost reports the loss of the first lost lease of the batch, or nil.
func (b *Batch) Lost() error {
	for _, l := range b.Leases {
		if err := l.Lost(); err != nil {
			return err
		}
	}
	return nil
}
