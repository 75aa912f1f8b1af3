package host

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"time"
)

// quiesce waits until the hosts have done what the model says the last
// step does, then checks that they agree with it:
//
//   - every operation the model completes has returned to its actor
//     within modelReturnLimit, and none the model leaves waiting has;
//   - the store holds exactly the model's requests, in the same order,
//     with the same modes, pins, upgrade targets and blockers (so nothing
//     waits that the rules would grant, and nothing is left behind);
//   - Status reports granted exactly the requests the model grants;
//   - the actors' own view is safe: the leases they hold (a pending
//     upgrade holds its old mode) are pairwise compatible, a semaphore
//     has at most its limit of holders, and each host's Held and each
//     idle lease's Mode say the same as the actors;
//   - FIFO from the actors' view: no lease was granted over an earlier
//     request still waiting unless compatible with it (on a semaphore, not
//     at all).
func (m *lockModel) quiesce() {
	m.t.Helper()
	timer := time.NewTimer(modelReturnLimit)
	defer timer.Stop()
	for {
		op := m.overdue()
		if op == nil {
			break
		}
		select {
		case res := <-m.results:
			m.process(res)
		case <-timer.C:
			m.fail("%s: the model completes it, but it has not returned within %s", op, modelReturnLimit)
		}
	}
	m.drain()
	h := m.hosts[m.step%len(m.hosts)]
	for _, q := range m.queues {
		m.matchStore(h, q)
		m.drain()
		m.matchStatus(h, q)
		m.checkHolders(q)
		m.checkFIFO(q)
	}
	m.checkActors()
}

// overdue returns an operation in flight that the model has completed.
func (m *lockModel) overdue() *modelOp {
	for _, a := range m.actors {
		op := a.op
		if op == nil {
			continue
		}
		if op.kind == opAcquire && op.req.granted {
			return op
		}
		if op.kind == opConvert && (op.outcome != refPending || op.req.target == 0) {
			return op
		}
	}
	return nil
}

// drain processes the results that have come in.
func (m *lockModel) drain() {
	m.t.Helper()
	for {
		select {
		case res := <-m.results:
			m.process(res)
		default:
			return
		}
	}
}

// storedRequest is an entry of the store as the model reads it: the
// stored request format of the host.
type storedRequest struct {
	key      string
	token    int64
	Mode     string   `json:"mode"`
	Pinned   bool     `json:"pinned"`
	Target   string   `json:"target"`
	Blockers []string `json:"blockers"`
	Limit    int      `json:"limit"`
}

func (s storedRequest) String() string {
	t := fmt.Sprintf("%s tok %d %s", s.key, s.token, s.Mode)
	if s.Pinned {
		t += " pinned"
	}
	if s.Target != "" {
		t += fmt.Sprintf(" ->%s waits for %v", s.Target, s.Blockers)
	}
	if s.Limit > 0 {
		t += fmt.Sprintf(" limit %d", s.Limit)
	}
	return t
}

func (m *lockModel) readStore(h *Host, q *refQueue) ([]storedRequest, error) {
	ctx, cancel := context.WithTimeout(m.ctx, modelReturnLimit)
	defer cancel()
	be, _, err := h.Backend(ctx)
	if err != nil {
		return nil, err
	}
	r, err := be.Range(ctx, q.name)
	if err != nil {
		return nil, err
	}
	out := make([]storedRequest, 0, len(r.Entries))
	for _, e := range r.Entries {
		s := storedRequest{key: e.Key, token: e.CreateRev}
		if err := json.Unmarshal(e.Value, &s); err != nil {
			return nil, fmt.Errorf("entry %s: %v", e.Key, err)
		}
		out = append(out, s)
	}
	return out, nil
}

// matchStore polls the store until q's entries are the model's requests,
// and learns the keys and tokens of requests new to it.
func (m *lockModel) matchStore(h *Host, q *refQueue) {
	m.t.Helper()
	deadline := time.Now().Add(modelReturnLimit)
	for {
		stored, err := m.readStore(h, q)
		if err != nil {
			m.fail("read %s: %v", q.name, err)
		}
		diff := m.storeDiff(q, stored)
		if diff == "" {
			for i, r := range q.reqs {
				r.key, r.token = stored[i].key, stored[i].token
			}
			return
		}
		if time.Now().After(deadline) {
			var b strings.Builder
			for _, s := range stored {
				b.WriteString("\n    " + s.String())
			}
			m.fail("the store does not match the model on %s within %s: %s\n  store:%s", q.name, modelReturnLimit, diff, b.String())
		}
		time.Sleep(2 * time.Millisecond)
		m.drain()
	}
}

// storeDiff says how stored differs from the model's queue, "" if not.
func (m *lockModel) storeDiff(q *refQueue, stored []storedRequest) string {
	if len(stored) != len(q.reqs) {
		return fmt.Sprintf("%d entries, the model has %d requests", len(stored), len(q.reqs))
	}
	keyOf := map[*refReq]string{}
	for i, r := range q.reqs {
		keyOf[r] = stored[i].key
	}
	for i, r := range q.reqs {
		s := stored[i]
		switch {
		case r.key != "" && r.key != s.key:
			return fmt.Sprintf("entry %d is %s, the model has #%d (%s) there", i, s.key, r.id, r.key)
		case r.token != 0 && r.token != s.token:
			return fmt.Sprintf("entry %s has token %d, the model's #%d has %d", s.key, s.token, r.id, r.token)
		case i > 0 && s.token <= stored[i-1].token:
			return fmt.Sprintf("entries out of creation order at %d", i)
		case modeName(s.Mode) != r.mode.String():
			return fmt.Sprintf("entry %s (#%d) is %s, the model says %s", s.key, r.id, s.Mode, r.mode)
		case s.Pinned != r.pinned:
			return fmt.Sprintf("entry %s (#%d) pinned %v, the model says %v", s.key, r.id, s.Pinned, r.pinned)
		case s.Limit != r.limit:
			return fmt.Sprintf("entry %s (#%d) limit %d, the model says %d", s.key, r.id, s.Limit, r.limit)
		}
		var target string
		var blockers []string
		if r.target != 0 {
			target = r.target.String()
			for _, b := range r.blockers {
				k := b.key // a blocker that has left keeps its place in the list
				if k == "" {
					k = keyOf[b]
				}
				blockers = append(blockers, k)
			}
		}
		got := slices.Clone(s.Blockers)
		slices.Sort(got)
		slices.Sort(blockers)
		if modeName(s.Target) != target || !slices.Equal(got, blockers) {
			return fmt.Sprintf("entry %s (#%d) upgrades to %q waiting for %v, the model says %q waiting for %v",
				s.key, r.id, s.Target, s.Blockers, target, blockers)
		}
	}
	return ""
}

// modeName is the canonical name of a stored mode name.
func modeName(s string) string {
	if s == "" {
		return ""
	}
	md, err := ParseMode(s)
	if err != nil {
		return "bad mode " + s
	}
	return md.String()
}

// matchStatus checks that Status grants what the model grants.
func (m *lockModel) matchStatus(h *Host, q *refQueue) {
	m.t.Helper()
	ctx, cancel := context.WithTimeout(m.ctx, modelReturnLimit)
	defer cancel()
	st, err := h.Status(ctx, q.name)
	if err != nil {
		m.fail("status %s: %v", q.name, err)
	}
	byKey := map[string]*refReq{}
	for _, r := range q.reqs {
		byKey[r.key] = r
	}
	all := append(append([]Request(nil), st.Holders...), st.Waiters...)
	if len(all) != len(q.reqs) {
		m.fail("status of %s at revision %d shows %d requests, the model has %d", q.name, st.Revision, len(all), len(q.reqs))
	}
	for _, s := range all {
		r := byKey[s.Key]
		switch {
		case r == nil:
			m.fail("status of %s shows %s, unknown to the model", q.name, s.Key)
		case s.Granted != r.granted:
			m.fail("status of %s shows #%d (%s, token %d) granted=%v; the model says %s", q.name, r.id, s.Key, s.Token, s.Granted, r)
		case s.Token != r.token || s.Mode != r.mode.String():
			m.fail("status of %s shows #%d as %s token %d; the model says %s", q.name, r.id, s.Mode, s.Token, r)
		}
	}
}

// holdersOf returns the leases the actors hold on q.
func (m *lockModel) holdersOf(q *refQueue) []*modelLease {
	var out []*modelLease
	for _, a := range m.actors {
		for _, ml := range a.held {
			if ml.q == q {
				out = append(out, ml)
			}
		}
	}
	return out
}

func (m *lockModel) actorOf(ml *modelLease) *modelActor {
	for _, a := range m.actors {
		if slices.Contains(a.held, ml) {
			return a
		}
	}
	return nil
}

// checkHolders checks that the leases the actors hold on q can be held
// together.
func (m *lockModel) checkHolders(q *refQueue) {
	m.t.Helper()
	hs := m.holdersOf(q)
	if q.limit > 0 && len(hs) > q.limit {
		m.fail("%d holders of semaphore %s, limit %d", len(hs), q.name, q.limit)
	}
	for i, x := range hs {
		for _, y := range hs[i+1:] {
			mx, my := m.actorOf(x).heldModes(x), m.actorOf(y).heldModes(y)
			if !canHold(mx, my) {
				m.fail("incompatible holders of %s: #%d (%v, token %d) and #%d (%v, token %d)",
					q.name, x.req.id, mx, x.lease.Token(), y.req.id, my, y.lease.Token())
			}
		}
	}
}

// checkGrant checks a fresh grant when it comes back to its actor: it can
// be held with every lease already held, it respects every earlier
// request still waiting, and an exclusive grant's token is above that of
// every grant before it on the resource.
func (m *lockModel) checkGrant(op *modelOp, ml *modelLease) {
	m.t.Helper()
	q, tok := op.q, ml.lease.Token()
	hs := m.holdersOf(q)
	if q.limit > 0 && len(hs) >= q.limit {
		m.fail("%s granted beside %d holders of semaphore %s, limit %d", op, len(hs), q.name, q.limit)
	}
	for _, o := range hs {
		om := m.actorOf(o).heldModes(o)
		if !canHold(om, []Mode{ml.mode}) {
			m.fail("%s granted (token %d) while #%d holds %v (token %d)", op, tok, o.req.id, om, o.lease.Token())
		}
	}
	if q.limit == 0 {
		for _, a := range m.actors {
			w := a.op
			if w == nil || w == op || w.kind != opAcquire || w.q != q || w.req.token == 0 || w.req.token > tok {
				continue
			}
			if !refCompatible(w.mode, ml.grantMode) {
				m.fail("FIFO: %s granted (token %d) over earlier waiter #%d (%s, token %d)", op, tok, w.req.id, w.mode, w.req.token)
			}
		}
	}
	if ml.grantMode == Exclusive && tok <= m.maxToken[q] {
		m.fail("%s: exclusive grant with token %d, not above the earlier grant's %d", op, tok, m.maxToken[q])
	}
	m.maxToken[q] = max(m.maxToken[q], tok)
}

// checkFIFO checks, with every operation settled, that no lease on q was
// granted over an earlier request that still waits, unless compatible
// with it; on a semaphore, not at all.
func (m *lockModel) checkFIFO(q *refQueue) {
	m.t.Helper()
	for _, a := range m.actors {
		w := a.op
		if w == nil || w.kind != opAcquire || w.q != q {
			continue
		}
		if w.req.granted || w.req.token == 0 {
			m.fail("%s: in flight, but the model has it as %s", w, w.req)
		}
		for _, ml := range m.holdersOf(q) {
			if ml.req.token < w.req.token {
				continue
			}
			if q.limit > 0 || !refCompatible(w.mode, ml.grantMode) {
				m.fail("FIFO: #%d (%s, token %d) holds %s although earlier #%d (%s, token %d) still waits",
					ml.req.id, ml.grantMode, ml.req.token, q.name, w.req.id, w.mode, w.req.token)
			}
		}
	}
}

// checkActors checks that the model, the actors and the hosts agree on
// who holds what.
func (m *lockModel) checkActors() {
	m.t.Helper()
	held := map[*refReq]*modelLease{}
	for _, a := range m.actors {
		for _, ml := range a.held {
			held[ml.req] = ml
			// A pending upgrade still holds, and says, its old mode.
			if modes := a.heldModes(ml); len(modes) == 1 {
				if got := ml.lease.Mode(); got != modes[0] {
					m.fail("lease #%d on %s: Mode() %s, its actor holds %s", ml.req.id, ml.q.name, got, modes[0])
				}
			}
		}
	}
	for _, q := range m.queues {
		for _, r := range q.reqs {
			if r.granted && held[r] == nil {
				m.fail("the model grants %s on %s, but no actor holds it", r, q.name)
			}
			delete(held, r)
		}
	}
	for r := range held {
		m.fail("an actor holds #%d, which the model has not", r.id)
	}
	for i, h := range m.hosts {
		want := map[*Lease]bool{}
		for _, a := range m.actors {
			if a.host == i {
				for _, ml := range a.held {
					want[ml.lease] = true
				}
			}
		}
		got := h.Held()
		if len(got) != len(want) {
			m.fail("host %d Held() has %d leases, its actors hold %d", i, len(got), len(want))
		}
		for _, l := range got {
			if !want[l] {
				m.fail("host %d Held() has a lease on %s (token %d) no actor holds", i, l.Resource(), l.Token())
			}
		}
	}
}
