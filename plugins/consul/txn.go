package consul

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"strconv"
	"strings"
	"time"

	"github.com/hashicorp/consul/api"

	"github.com/locksmithx/locksmith/sdk"
)

// maxRemovals bounds how many dead entries one transaction removes (two
// operations each), so a transaction stays under Consul's 128 operations.
const maxRemovals = 48

// maxAttempts bounds how often a write is retried after other writers
// changed the resource between its read and its transaction.
const maxAttempts = 500

// errStale asks apply to read the resource again: a plan was about to
// refuse a change on a snapshot that came from the cache.
var errStale = errors.New("consul: snapshot may be stale")

// edit is one transaction being planned on a snapshot: the operations and
// the events they make, with consecutive revisions from the snapshot's.
type edit struct {
	c        *conn
	resource string
	base     *snapshot
	// fresh is true when base was read for this attempt, not cached.
	fresh bool
	rev   int64
	ops   api.KVTxnOps
	// lockOps are the indexes of operations that acquire with a session.
	lockOps map[int]bool
	// casOps are the indexes of entry compare-and-swaps: a failure means
	// Consul released the entry since the snapshot.
	casOps    map[int]bool
	withRange bool
	after     []stored // the resource's entries once the edit applies
}

func (c *conn) newEdit(resource string, base *snapshot, fresh bool) *edit {
	e := &edit{c: c, resource: resource, base: base, fresh: fresh, rev: base.rev,
		lockOps: map[int]bool{}, casOps: map[int]bool{}}
	// Room for the revision compare-and-swap, which goes first.
	e.ops = append(e.ops, nil)
	for _, st := range base.entries {
		e.after = append(e.after, st)
	}
	return e
}

// next takes the next revision.
func (e *edit) next() int64 {
	e.rev++
	return e.rev
}

// event records ev in its ring slot.
func (e *edit) event(ev sdk.Event) {
	e.ops = append(e.ops, &api.KVTxnOp{Verb: api.KVSet, Key: e.c.keys.slot(e.resource, ev.Rev), Value: encodeEvent(ev)})
}

// removeDead removes the entries whose session Consul released, oldest
// first, at most maxRemovals of them.
func (e *edit) removeDead() {
	n := 0
	for _, st := range e.base.dead() {
		if n == maxRemovals {
			return
		}
		e.remove(st)
		n++
	}
}

// remove deletes an entry, as an event of its own.
func (e *edit) remove(st stored) int64 {
	rev := e.next()
	e.ops = append(e.ops, &api.KVTxnOp{Verb: api.KVDelete, Key: st.kv})
	e.event(sdk.Event{Type: sdk.EventDelete, Rev: rev, Entry: sdk.Entry{Key: st.key, Session: st.rec.session}})
	e.drop(st.key)
	return rev
}

func (e *edit) drop(key string) {
	for i, st := range e.after {
		if st.key == key {
			e.after = append(e.after[:i:i], e.after[i+1:]...)
			return
		}
	}
}

// find returns the live entry key as the edit leaves it.
func (e *edit) find(key string) (stored, bool) {
	for _, st := range e.after {
		if st.key == key && !st.dead() {
			return st, true
		}
	}
	return stored{}, false
}

// set writes an entry's record: with lock, acquiring it with the record's
// session; with cas, only if the KV entry is still at index.
func (e *edit) set(key string, rec record, lock bool, cas uint64) {
	kv := e.c.keys.entry(e.resource, key)
	op := &api.KVTxnOp{Verb: api.KVSet, Key: kv, Value: encodeRecord(rec)}
	switch {
	case lock:
		op.Verb, op.Session = api.KVLock, rec.session
		e.lockOps[len(e.ops)] = true
	case cas != 0:
		op.Verb, op.Index = api.KVCAS, cas
		e.casOps[len(e.ops)] = true
	}
	e.ops = append(e.ops, op)
	e.event(sdk.Event{Type: sdk.EventPut, Rev: rec.modRev, Entry: sdk.Entry{Key: key, Value: rec.value,
		Session: rec.session, CreateRev: rec.createRev, ModRev: rec.modRev}})
	st := stored{key: key, kv: kv, rec: rec, holder: rec.session}
	for i := range e.after {
		if e.after[i].key == key {
			e.after[i] = st
			return
		}
	}
	e.after = append(e.after, st)
}

// register records that session has entries in the resource.
func (e *edit) register(session string) {
	e.lockOps[len(e.ops)] = true
	e.ops = append(e.ops, &api.KVTxnOp{Verb: api.KVLock, Key: e.c.keys.sessionResource(session, e.resource), Session: session})
}

// outcome is what a committed edit left.
type outcome struct {
	rev     int64
	entries []sdk.Entry // live entries after the edit, in creation order
}

// apply runs plan on the resource's snapshot and commits the edit it
// builds in one transaction that compare-and-swaps the revision key. When
// another writer got in between, it reads the resource and plans again.
// A plan that returns an error ends apply with it (errStale: read again
// and plan again). A plan that leaves the edit without changes commits
// nothing.
func (c *conn) apply(ctx context.Context, op, resource string, plan func(e *edit) error) (outcome, error) {
	leave, err := c.gates.enter(ctx, resource)
	if err != nil {
		return outcome{}, fmt.Errorf("consul: %s %q: %w", op, resource, err)
	}
	defer leave()
	base, fresh := c.cache.get(resource), false
	start := time.Now()
	for attempt := 0; attempt < maxAttempts; attempt++ {
		if base == nil {
			var err error
			if base, err = c.read(ctx, resource); err != nil {
				if c.unapplied(err) && time.Since(start) < retryFor {
					if err := sleepCtx(ctx, backoff(attempt)); err != nil {
						return outcome{}, fmt.Errorf("consul: %s %q: %w", op, resource, err)
					}
					continue
				}
				return outcome{}, err
			}
			fresh = true
		}
		e := c.newEdit(resource, base, fresh)
		if err := plan(e); err != nil {
			if errors.Is(err, errStale) && !fresh {
				base = nil
				continue
			}
			return outcome{}, err
		}
		if len(e.ops) == 1 && !e.withRange {
			return e.outcome(), nil
		}
		out, retry, err := c.commit(ctx, op, e)
		if err != nil && c.unapplied(err) && time.Since(start) < retryFor {
			// No leader to take the transaction (an election): it was not
			// applied, so it is safe to plan it again once there is one.
			if err := sleepCtx(ctx, backoff(attempt)); err != nil {
				return outcome{}, fmt.Errorf("consul: %s %q: %w", op, resource, err)
			}
			base = nil
			continue
		}
		if err != nil || !retry {
			return out, err
		}
		c.cache.drop(resource)
		base = nil
		if attempt > 4 {
			// Many writers on one resource: spread the retries.
			if err := sleepCtx(ctx, time.Duration(rand.Int64N(int64(time.Millisecond)))); err != nil {
				return outcome{}, fmt.Errorf("consul: %s %q: %w", op, resource, err)
			}
		}
	}
	return outcome{}, sdk.Errorf(sdk.CodeUnavailable, "consul: %s %q: %d attempts lost to concurrent writers; try again", op, resource, maxAttempts)
}

func (e *edit) outcome() outcome {
	out := outcome{rev: e.rev}
	for _, st := range e.after {
		if !st.dead() {
			out.entries = append(out.entries, st.entry())
		}
	}
	return out
}

// commit runs e's transaction. retry is true when the snapshot was stale.
func (c *conn) commit(ctx context.Context, op string, e *edit) (outcome, bool, error) {
	revKey := c.keys.rev(e.resource)
	e.ops[0] = &api.KVTxnOp{Verb: api.KVCAS, Key: revKey, Index: e.base.index, Value: []byte(strconv.FormatInt(e.rev, 10))}
	nresults := 0
	for _, o := range e.ops {
		if o.Verb != api.KVDelete {
			nresults++
		}
	}
	if e.withRange {
		e.ops = append(e.ops, &api.KVTxnOp{Verb: api.KVGetTree, Key: c.keys.entries(e.resource)})
	}
	ok, resp, _, err := c.api.KV().Txn(e.ops, (&api.QueryOptions{}).WithContext(ctx))
	if err != nil {
		return outcome{}, false, c.fail(fmt.Sprintf("%s %q", op, e.resource), err)
	}
	if !ok {
		stale := false
		for _, te := range resp.Errors {
			switch {
			case e.lockOps[te.OpIndex] && strings.Contains(te.What, "invalid session"):
				return outcome{}, false, sdk.Errorf(sdk.CodeSessionExpired, "consul: %s %q: session %s has expired or was revoked",
					op, e.resource, e.ops[te.OpIndex].Session)
			case te.OpIndex == 0 || e.casOps[te.OpIndex]:
				stale = true
			}
		}
		if stale {
			return outcome{}, true, nil
		}
		msgs := make([]string, len(resp.Errors))
		for i, te := range resp.Errors {
			msgs[i] = fmt.Sprintf("operation %d on %s: %s", te.OpIndex, e.ops[te.OpIndex].Key, te.What)
		}
		return outcome{}, false, sdk.Errorf(sdk.CodeUnknown, "consul: %s %q: transaction refused: %s", op, e.resource, strings.Join(msgs, "; "))
	}
	if len(resp.Results) == 0 || resp.Results[0] == nil || resp.Results[0].Key != revKey {
		return outcome{}, false, sdk.Errorf(sdk.CodeUnknown, "consul: %s %q: unexpected transaction reply", op, e.resource)
	}
	next := &snapshot{index: resp.Results[0].ModifyIndex, rev: e.rev}
	out := outcome{rev: e.rev}
	if e.withRange {
		tree := resp.Results[min(nresults, len(resp.Results)):]
		s, err := c.parseSnapshot(e.resource, tree)
		if err != nil {
			return outcome{}, false, err
		}
		s.index, s.rev = next.index, next.rev
		next = s
		out.entries = s.live()
	} else {
		// Entries this transaction wrote carry its raft index.
		for i := range e.after {
			if e.after[i].index == 0 {
				e.after[i].index = next.index
			}
		}
		next.entries = e.after
		out = e.outcome()
	}
	c.cache.put(e.resource, next)
	return out, false, nil
}

func deleteOp(kv string) *api.KVTxnOp { return &api.KVTxnOp{Verb: api.KVDelete, Key: kv} }

// unapplied reports whether err says the request never reached a raft
// leader — so it was not applied and can be sent again: the cluster has no
// leader, or the agent could not reach a server.
func (c *conn) unapplied(err error) bool {
	if err == nil || sdk.CodeOf(err) != sdk.CodeUnavailable {
		return false
	}
	msg := err.Error()
	for _, s := range []string{"No cluster leader", "rpc error getting client", "No path to datacenter"} {
		if strings.Contains(msg, s) {
			return true
		}
	}
	return false
}

// backoff is the wait before retry n: 50ms doubling to 500ms.
func backoff(n int) time.Duration {
	return min(50*time.Millisecond<<min(n, 4), 500*time.Millisecond)
}
