package host

import (
	"fmt"
	"strings"
)

// The reference model of TestLockModel: the lock rules of DESIGN.md ("Lock
// model") and of the doc comments of queue.go and Lease.Convert, written
// from that prose and not from their code, so that the two can disagree.
// It shares nothing with the host but the Mode constants.

// refModes are the modes in the order of DESIGN.md's table.
var refModes = [...]Mode{IntentShared, IntentExclusive, Shared, SharedIntentExclusive, Update, Exclusive}

// refTable is DESIGN.md's compatibility table as printed there: a row per
// held mode, a column per wanted mode, both in refModes order; 'y' where
// the two can be granted together.
var refTable = [...]string{
	//  IS IX S SIX U X
	"yyyyy.", // IS
	"yy....", // IX
	"y.y.y.", // S
	"y.....", // SIX
	"y.y...", // U
	"......", // X
}

func refIndex(m Mode) int {
	for i, r := range refModes {
		if r == m {
			return i
		}
	}
	panic(fmt.Sprintf("reference model: no mode %d", m))
}

// refCompatible reports whether a request wanting mode wanted can be
// granted beside one holding mode held.
func refCompatible(held, wanted Mode) bool {
	return refTable[refIndex(held)][refIndex(wanted)] == 'y'
}

// refWeaker reports whether from -> to is a downgrade: every mode that can
// be granted beside from can be granted beside to, so it never waits.
func refWeaker(from, to Mode) bool {
	for _, m := range refModes {
		if refCompatible(from, m) && !refCompatible(to, m) {
			return false
		}
	}
	return true
}

// refReq is one lock request as the model sees it.
type refReq struct {
	id    int
	key   string // the store's key, once the request has been seen there
	token int64  // its create revision (the fencing token), once known
	mode  Mode
	limit int // semaphore limit, 0 for none

	granted bool
	// pinned: converted at least once by an upgrade; granted by right.
	pinned bool
	// target and blockers describe a pending upgrade: the granted
	// requests it was recorded to wait for (see blocks).
	target   Mode
	blockers []*refReq
}

func (r *refReq) waitsFor(o *refReq) bool {
	if r.target == 0 {
		return false
	}
	for _, b := range r.blockers {
		if b == o {
			return true
		}
	}
	return false
}

func (r *refReq) String() string {
	s := fmt.Sprintf("#%d", r.id)
	if r.token != 0 {
		s += fmt.Sprintf("(tok %d)", r.token)
	}
	s += " " + r.mode.String()
	if r.pinned {
		s += " pinned"
	}
	if r.target != 0 {
		var bs []string
		for _, b := range r.blockers {
			bs = append(bs, fmt.Sprintf("#%d", b.id))
		}
		s += fmt.Sprintf(" ->%s waits for %s", r.target, strings.Join(bs, ","))
	}
	if r.granted {
		s += " GRANTED"
	} else {
		s += " waiting"
	}
	return s
}

// refQueue is one resource: its requests in creation order.
type refQueue struct {
	name  string
	limit int // > 0: a semaphore of that many holders
	reqs  []*refReq
}

// grantable decides r afresh from the rules, without looking at any grant
// flag. A pinned request holds by right. Any other request needs:
//   - FIFO: compatibility with every unpinned request created before it,
//     whether that one holds or waits;
//   - compatibility with the mode of every pinned request, before or after
//     it, and with the target of every pending upgrade unless that upgrade
//     waits for r itself;
//   - on a semaphore, fewer than limit requests before it.
func (q *refQueue) grantable(r *refReq) bool {
	if r.pinned {
		return true
	}
	before := true
	for n, o := range q.reqs {
		if o == r {
			before = false
			if r.limit > 0 && n >= r.limit {
				return false
			}
			continue
		}
		if o.pinned {
			if !refCompatible(o.mode, r.mode) {
				return false
			}
			if o.target != 0 && !o.waitsFor(r) && !refCompatible(o.target, r.mode) {
				return false
			}
			continue
		}
		if before && !refCompatible(o.mode, r.mode) {
			return false
		}
	}
	return true
}

func (q *refQueue) has(r *refReq) bool {
	for _, o := range q.reqs {
		if o == r {
			return true
		}
	}
	return false
}

// blocks reports whether b, one of the granted requests r's pending
// upgrade was recorded to wait for, still keeps it waiting: b is still
// there and its mode or its own upgrade's target conflicts with r's
// target. ("An upgrade waits only for the granted requests it conflicts
// with": one that has since stepped down to a compatible mode no longer
// counts.)
func (q *refQueue) blocks(b, r *refReq) bool {
	if !q.has(b) {
		return false
	}
	return !refCompatible(b.mode, r.target) || (b.target != 0 && !refCompatible(b.target, r.target))
}

// settle completes the pending upgrades nothing blocks any more and grants
// what the rules grant, until nothing changes. It returns the requests
// granted and the upgrades completed, or an error if a request once
// granted is no longer grantable: the rules must never take a grant back.
func (q *refQueue) settle() (granted, converted []*refReq, err error) {
	for changed := true; changed; {
		changed = false
		for _, r := range q.reqs {
			if r.target != 0 {
				gone := true
				for _, b := range r.blockers {
					if q.blocks(b, r) {
						gone = false
					}
				}
				if gone {
					r.mode, r.target, r.blockers = r.target, 0, nil
					converted = append(converted, r)
					changed = true
				}
			}
			if !r.granted && q.grantable(r) {
				r.granted = true
				granted = append(granted, r)
				changed = true
			}
		}
	}
	for _, r := range q.reqs {
		if r.granted && !q.grantable(r) {
			return granted, converted, fmt.Errorf("reference model: the rules took back the grant of %s on %s", r, q.name)
		}
	}
	return granted, converted, nil
}

// refOutcome is what a conversion does at once.
type refOutcome int

const (
	refConverted refOutcome = iota + 1 // done: the mode changed
	refPending                         // an upgrade that waits for blockers
	refDeadlock                        // refused: it could never be granted
)

func (o refOutcome) String() string {
	return [...]string{"", "converted", "pending", "deadlock"}[o]
}

// convert starts converting the granted request r to mode to.
//
// A downgrade changes the mode at once. An upgrade pins r (it keeps its
// place and holds by right) and waits for the granted requests whose mode
// or upgrade target conflicts with to — before or behind it, never for a
// waiting one. If one of those is itself an upgrade waiting for r —
// directly or through other upgrades — none could proceed: r is refused
// and left as it was.
func (q *refQueue) convert(r *refReq, to Mode) refOutcome {
	if refWeaker(r.mode, to) {
		r.mode, r.target, r.blockers = to, 0, nil
		return refConverted
	}
	var blockers []*refReq
	// Cycles are looked for with r as the upgrade would leave it:
	// upgrading to to.
	was := r.target
	r.target = to
	for _, o := range q.reqs {
		if o == r || !o.granted {
			continue
		}
		conflicts := !refCompatible(o.mode, to) || (o.target != 0 && !refCompatible(o.target, to))
		if !conflicts {
			continue
		}
		if q.waitsOn(o, r, map[*refReq]bool{}) {
			r.target = was
			return refDeadlock
		}
		blockers = append(blockers, o)
	}
	r.target = was
	r.pinned = true
	if len(blockers) == 0 {
		r.mode = to
		return refConverted
	}
	r.target, r.blockers = to, blockers
	return refPending
}

// waitsOn reports whether o's pending upgrade waits for r, directly or
// through other pending upgrades it waits for (a cycle of any length
// among upgrades of one resource is a deadlock).
func (q *refQueue) waitsOn(o, r *refReq, seen map[*refReq]bool) bool {
	if o.target == 0 || seen[o] {
		return false
	}
	seen[o] = true
	for _, b := range o.blockers {
		if !q.blocks(b, o) {
			continue
		}
		if b == r || q.waitsOn(b, r, seen) {
			return true
		}
	}
	return false
}

// withdraw abandons r's pending upgrade: it keeps its old mode (and stays
// pinned).
func (q *refQueue) withdraw(r *refReq) { r.target, r.blockers = 0, nil }

// remove takes r out of the queue: released, withdrawn or refused.
func (q *refQueue) remove(r *refReq) {
	for i, o := range q.reqs {
		if o == r {
			q.reqs = append(q.reqs[:i:i], q.reqs[i+1:]...)
			return
		}
	}
}

func (q *refQueue) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s", q.name)
	if q.limit > 0 {
		fmt.Fprintf(&b, " (limit %d)", q.limit)
	}
	b.WriteString(":")
	if len(q.reqs) == 0 {
		b.WriteString(" empty")
	}
	for _, r := range q.reqs {
		b.WriteString("\n    " + r.String())
	}
	return b.String()
}
