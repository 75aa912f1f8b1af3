package host

import (
	"slices"
	"sort"

	"github.com/locksmithx/locksmith/sdk"
)

// queue is a resource's requests in creation (FIFO) order. Grants are not
// stored: every process derives them from the queue by the same rules, so
// a waiter needs no one's permission and a release needs one write.
//
// A request that is not pinned is granted when
//   - it is compatible with every unpinned request ahead of it, granted or
//     waiting (FIFO: a reader behind a waiting writer waits);
//   - it is compatible with every pinned request, wherever it stands, and
//     with the target of each pending upgrade that does not wait for it;
//   - for a semaphore request, fewer than its limit requests are ahead.
//
// A pinned request is granted by right. These rules never take a grant
// back: requests only join at the end, and a conversion is recorded with
// the grants it must wait for (see Lease.Convert).
type queue []request

// newQueue decodes entries into a queue.
func newQueue(entries []sdk.Entry) queue {
	q := make(queue, 0, len(entries))
	for _, e := range entries {
		q = append(q, decodeRequest(e))
	}
	sort.SliceStable(q, func(i, j int) bool { return q[i].CreateRev < q[j].CreateRev })
	return q
}

// index returns the position of key, or -1.
func (q queue) index(key string) int {
	for i, r := range q {
		if r.Key == key {
			return i
		}
	}
	return -1
}

// blockers returns the positions of the requests that keep the request at
// position k from being granted; none means it is granted.
func (q queue) blockers(k int) []int {
	r := q[k]
	if r.info.Pinned {
		return nil
	}
	var out []int
	for j, o := range q {
		if j == k {
			continue
		}
		switch {
		case o.info.Pinned:
			if !Compatible(o.mode, r.mode) || (o.target != 0 && !o.waitsFor(r.Key) && !Compatible(o.target, r.mode)) {
				out = append(out, j)
			}
		case j < k && !Compatible(o.mode, r.mode):
			out = append(out, j)
		}
	}
	if r.info.Limit > 0 && k >= r.info.Limit && len(out) == 0 {
		// A full semaphore: the requests ahead hold every slot.
		for j := 0; j < k; j++ {
			out = append(out, j)
		}
	}
	return out
}

// wakeOn names the entries whose change can grant the request key, or
// take it away: its own, the nearest request ahead that blocks it, and any
// converting holder behind it that does. The blockers further ahead
// cannot grant it while that nearest one still blocks, so a queue of n
// waiters is woken one at a time, not n at a time. A semaphore's waiter
// depends on every request ahead (any release frees a slot).
func (q queue) wakeOn(key string) []string {
	k := q.index(key)
	if k < 0 {
		return nil
	}
	keys := []string{key}
	bl := q.blockers(k)
	if q[k].info.Limit > 0 {
		for _, j := range bl {
			keys = append(keys, q[j].Key)
		}
		return keys
	}
	nearest := -1
	for _, j := range bl {
		switch {
		case j < k:
			nearest = max(nearest, j)
		default:
			keys = append(keys, q[j].Key)
		}
	}
	if nearest >= 0 {
		keys = append(keys, q[nearest].Key)
	}
	return keys
}

// grantedAt reports whether the request at position i is granted.
func (q queue) grantedAt(i int) bool { return len(q.blockers(i)) == 0 }

// granted reports whether key is present and granted.
func (q queue) granted(key string) bool {
	i := q.index(key)
	return i >= 0 && q.grantedAt(i)
}

// upgradeBlockers decides an upgrade of the request at position p to mode
// t on this queue: the keys of the granted requests it must wait for, and
// the request it would deadlock with (nil if none). A granted request
// blocks the upgrade if it holds, or is itself upgrading to, a mode that
// conflicts with t. If one of them is an upgrade waiting for p — directly
// or through a chain of other upgrades — none could ever proceed: a
// deadlock, found from the queue alone, so across hosts too.
func (q queue) upgradeBlockers(p int, t Mode) ([]string, *request) {
	// The cycle is looked for in the queue as the upgrade would leave it:
	// p upgrading to t. An upgrade that waited for p once, stopped while p
	// held a compatible mode, waits for it again as soon as p's target is
	// stored; seen without the target, that cycle went unnoticed and was
	// found later by the older upgrade's wait instead.
	after := append(queue(nil), q...)
	after[p].target = t
	var keys []string
	for j, o := range q {
		if j == p || !q.grantedAt(j) {
			continue
		}
		if Compatible(o.mode, t) && (o.target == 0 || Compatible(o.target, t)) {
			continue
		}
		if after.waitsOn(j, q[p].Key, map[int]bool{}) {
			return nil, &q[j]
		}
		keys = append(keys, o.Key)
	}
	return keys, nil
}

// waitsOn reports whether the pending upgrade at position i waits for
// key: directly, or through other pending upgrades it waits for. It
// follows only blockers that are still there and still conflict with the
// upgrade's target, as the upgrade itself does.
func (q queue) waitsOn(i int, key string, seen map[int]bool) bool {
	o := q[i]
	if o.target == 0 || seen[i] {
		return false
	}
	seen[i] = true
	for _, b := range o.info.Blockers {
		j := q.index(b)
		if j < 0 || !q.stillBlocks(j, o.target) {
			continue
		}
		if b == key || q.waitsOn(j, key, seen) {
			return true
		}
	}
	return false
}

// stillBlocks reports whether the request at position j holds, or is
// upgrading to, a mode that conflicts with t.
func (q queue) stillBlocks(j int, t Mode) bool {
	return !Compatible(q[j].mode, t) || q[j].target != 0 && !Compatible(q[j].target, t)
}

// apply updates the queue with a watch event, in place: the caller owns q
// (its backing array too), and uses the queue apply returns.
func (q queue) apply(ev sdk.Event) queue {
	i := q.index(ev.Entry.Key)
	switch ev.Type {
	case sdk.EventDelete:
		if i >= 0 {
			q = slices.Delete(q, i, i+1)
		}
	case sdk.EventPut:
		r := decodeRequest(ev.Entry)
		if i >= 0 {
			q[i] = r
			return q
		}
		q = append(q, r)
		sort.SliceStable(q, func(a, b int) bool { return q[a].CreateRev < q[b].CreateRev })
	}
	return q
}
