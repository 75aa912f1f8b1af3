package host

import (
	"slices"
	"sync"
)

// handoffs are a session's own waiters, by resource: when one of its
// leases is released on a store that answers a delete with the queue left
// after it (sdk.CapDeleteRange), the release hands that queue to them, and
// the next waiter in FIFO order, if it is one of them, is granted at once
// instead of when the store's watch has told it. The queue comes from the
// store, atomically with the delete, so the grant is decided on the same
// state as the watch would have shown: fencing and FIFO hold across hosts.
type handoffs struct {
	mu sync.Mutex
	by map[string]map[*inbox]struct{}
}

// inbox holds the newest queue handed to one waiter.
type inbox struct {
	ch chan snapshot
	// keys are the entries whose release can end the waiter's wait (its
	// wake-on keys, see queue.wakeOn); nil: any. Guarded by handoffs.mu.
	keys []string
}

// snapshot is a resource's queue at revision rev.
type snapshot struct {
	rev int64
	q   queue
}

// join registers a waiter on resource; leave must follow.
func (h *handoffs) join(resource string) *inbox {
	f := &inbox{ch: make(chan snapshot, 1)}
	h.mu.Lock()
	if h.by == nil {
		h.by = map[string]map[*inbox]struct{}{}
	}
	set := h.by[resource]
	if set == nil {
		set = map[*inbox]struct{}{}
		h.by[resource] = set
	}
	set[f] = struct{}{}
	h.mu.Unlock()
	return f
}

func (h *handoffs) leave(resource string, f *inbox) {
	h.mu.Lock()
	if set := h.by[resource]; set != nil {
		delete(set, f)
		if len(set) == 0 {
			delete(h.by, resource)
		}
	}
	h.mu.Unlock()
}

// waiting reports whether a waiter of the session follows resource.
func (h *handoffs) waiting(resource string) bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	return len(h.by[resource]) > 0
}

// wakeOn sets the keys whose release can end f's wait.
func (h *handoffs) wakeOn(f *inbox, keys []string) {
	h.mu.Lock()
	f.keys = keys
	h.mu.Unlock()
}

// hand gives resource's queue at revision rev, left by the release of
// entry released, to the waiters whose wait that release can end, as a
// store's watch with wake-on keys (sdk.WithWakeOn) tells only them: with
// many waiters, each release would otherwise give every one of them a
// copy of the queue to check. A waiter's inbox keeps only the newest
// queue; each waiter gets its own copy (it applies events to it in place).
// What a waiter is not handed, its watch still tells it in time.
func (h *handoffs) hand(resource string, rev int64, q queue, released string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for f := range h.by[resource] {
		if f.keys != nil && !slices.Contains(f.keys, released) {
			continue
		}
		select {
		case old := <-f.ch:
			if old.rev > rev {
				f.ch <- old
				continue
			}
		default:
		}
		f.ch <- snapshot{rev: rev, q: slices.Clone(q)}
	}
}
