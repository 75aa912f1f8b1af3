package host

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"sync"
	"sync/atomic"
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

// batchWindow is how many requests of a batch are in flight at once.
const batchWindow = 64

// LockBatch takes every request or none. Requests are taken in one
// canonical order (sorted by resource), so that two batches can never wait
// for each other; a failure part way releases what was taken and returns a
// *BatchError naming the resource that failed, wrapping the cause
// (ErrConflict, ErrTimeout, ErrDeadlock, …). opts apply to every request
// (NoWait, WithMeta, WithOwner); the batch is one owner for deadlock
// detection.
//
// The requests are sent batchWindow at a time without waiting, so an
// uncontended batch of n costs about n/batchWindow backend round trips,
// not n. When one of them is held elsewhere, the requests after it are
// released again (whether they were granted or not), the batch waits for
// that one alone, and goes on from there the same way. A batch therefore
// only ever waits while it holds resources before the one it waits for,
// as when the requests were taken one by one; the cost is that a resource
// after the contended one may be granted to the batch briefly, then
// released, before the batch holds it for good (and a WithCondition
// condition may run on such a grant too).
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
	lock := func(r BatchRequest, wait bool) (*Lease, error) {
		mode := r.Mode
		if mode == 0 {
			mode = Exclusive
		}
		all := append(append([]LockOption(nil), opts...), WithMode(mode), WithLimit(r.Limit), WithOwner(owner))
		if !wait {
			all = append(all, NoWait())
		}
		return h.Acquire(ctx, r.Resource, all...)
	}
	b := &Batch{}
	fail := func(r BatchRequest, err error) (*Batch, error) {
		_ = releaseBatch(b.Leases)
		return nil, &BatchError{Resource: r.Resource, Err: err}
	}
	for i := 0; i < len(sorted); {
		taken, err := tryBatch(sorted[i:], lock)
		b.Leases = append(b.Leases, taken...)
		i += len(taken)
		if i == len(sorted) {
			break
		}
		if !errors.Is(err, ErrConflict) || o.noWait {
			return fail(sorted[i], err)
		}
		// sorted[i] is held elsewhere: wait for it alone.
		l, err := lock(sorted[i], true)
		if err != nil {
			return fail(sorted[i], err)
		}
		b.Leases = append(b.Leases, l)
		i++
	}
	return b, nil
}

// tryBatch takes the requests without waiting, batchWindow at a time, and
// returns the leases of the longest prefix of rs it was granted; err is
// why rs[len(taken)] was not (nil when all were). Granted requests after
// the first that was not are released, and no request after it is sent
// once it is known.
func tryBatch(rs []BatchRequest, lock func(BatchRequest, bool) (*Lease, error)) (taken []*Lease, err error) {
	leases := make([]*Lease, len(rs))
	errs := make([]error, len(rs))
	var first atomic.Int64 // index of the first failure seen
	first.Store(int64(len(rs)))
	inWindow(len(rs), func(i int) bool {
		if int64(i) > first.Load() {
			return false
		}
		leases[i], errs[i] = lock(rs[i], false)
		for errs[i] != nil {
			f := first.Load()
			if int64(i) >= f || first.CompareAndSwap(f, int64(i)) {
				break
			}
		}
		return true
	})
	n := int(first.Load())
	var extra []*Lease
	for _, l := range leases[n:] {
		if l != nil {
			extra = append(extra, l)
		}
	}
	_ = releaseBatch(extra)
	if n < len(rs) {
		err = errs[n]
	}
	return leases[:n], err
}

// Release releases every lease of the batch, batchWindow at a time.
func (b *Batch) Release(ctx context.Context) error {
	return releaseBatchCtx(ctx, b.Leases)
}

// releaseBatch releases leases batchWindow at a time and joins the
// errors, in the leases' order.
func releaseBatch(ls []*Lease) error { return releaseBatchCtx(context.Background(), ls) }

func releaseBatchCtx(ctx context.Context, ls []*Lease) error {
	errs := make([]error, len(ls))
	inWindow(len(ls), func(i int) bool {
		errs[i] = ls[i].Release(ctx)
		return true
	})
	return errors.Join(errs...)
}

// inWindow calls do for the indexes 0 to n-1, in that order of start,
// batchWindow at a time, and returns when every call has. Once a call
// returns false, no index after it is started.
func inWindow(n int, do func(i int) bool) {
	var (
		next atomic.Int64
		stop atomic.Bool
		wg   sync.WaitGroup
	)
	for range min(batchWindow, n) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for !stop.Load() {
				i := int(next.Add(1) - 1)
				if i >= n {
					return
				}
				if !do(i) {
					stop.Store(true)
					return
				}
			}
		}()
	}
	wg.Wait()
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
