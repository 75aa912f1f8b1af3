package backendtest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/locksmithx/locksmith/sdk"
)

// change is a change a check made and expects Watch to report.
type change struct {
	typ     sdk.EventType
	key     string
	rev     int64
	create  int64
	session string
	value   []byte
}

func (c change) String() string { return fmt.Sprintf("%s %s at revision %d", c.typ, c.key, c.rev) }

// wantChange fails the check unless ev reports c.
func wantChange(t tb, what string, ev sdk.Event, c change) {
	t.Helper()
	if ev.Type != c.typ || ev.Entry.Key != c.key || ev.Rev != c.rev {
		t.Errorf("%s: got %s %s at revision %d, want %s", what, ev.Type, ev.Entry.Key, ev.Rev, c)
		return
	}
	if ev.Entry.Session != c.session {
		t.Errorf("%s: %s reports session %q, want %q", what, c, ev.Entry.Session, c.session)
	}
	if c.typ == sdk.EventPut {
		if ev.Entry.ModRev != c.rev || ev.Entry.CreateRev != c.create {
			t.Errorf("%s: %s reports CreateRev %d, ModRev %d; want %d, %d", what, c, ev.Entry.CreateRev, ev.Entry.ModRev, c.create, c.rev)
		}
		if !bytes.Equal(ev.Entry.Value, c.value) {
			t.Errorf("%s: %s reports value %q, want %q", what, c, ev.Entry.Value, c.value)
		}
	}
}

// history makes a mix of changes on resource and returns them.
func history(t tb, e *env, ctx context.Context, resource string, s sdk.Session) []change {
	t.Helper()
	var cs []change
	pa := e.put(t, ctx, sdk.PutRequest{Resource: resource, Key: "a", Value: []byte("a1"), Session: s.ID, IfAbsent: true})
	cs = append(cs, change{sdk.EventPut, "a", pa.ModRev, pa.CreateRev, s.ID, []byte("a1")})
	pb := e.put(t, ctx, sdk.PutRequest{Resource: resource, Key: "b", Value: []byte("b1"), Session: s.ID, IfAbsent: true})
	cs = append(cs, change{sdk.EventPut, "b", pb.ModRev, pb.CreateRev, s.ID, []byte("b1")})
	ua := e.update(t, ctx, sdk.UpdateRequest{Resource: resource, Key: "a", Value: []byte("a2"), ExpectRev: pa.ModRev})
	cs = append(cs, change{sdk.EventPut, "a", ua.ModRev, pa.CreateRev, s.ID, []byte("a2")})
	pa3 := e.put(t, ctx, sdk.PutRequest{Resource: resource, Key: "a", Value: []byte("a3"), Session: s.ID})
	cs = append(cs, change{sdk.EventPut, "a", pa3.ModRev, pa.CreateRev, s.ID, []byte("a3")})
	db := e.delete(t, ctx, sdk.DeleteRequest{Resource: resource, Key: "b", ExpectRev: pb.ModRev})
	cs = append(cs, change{typ: sdk.EventDelete, key: "b", rev: db.Rev, session: s.ID})
	da := e.delete(t, ctx, sdk.DeleteRequest{Resource: resource, Key: "a"})
	cs = append(cs, change{typ: sdk.EventDelete, key: "a", rev: da.Rev, session: s.ID})
	return cs
}

// checkWatchWakeOnDeliversAll: a Watch that names a key (sdk.WithWakeOn)
// may hold back the changes of other keys, but once the named key changes
// it has delivered every change up to that one, in order: a waiter that
// names only the entry it queues behind still sees the whole queue.
func checkWatchWakeOnDeliversAll(t tb, e *env) {
	ctx := e.ctx(t, 0)
	s := e.open(t, ctx, e.b, longTTL)
	r := e.resource("r")
	pw := e.put(t, ctx, sdk.PutRequest{Resource: r, Key: "w", Value: []byte("w1"), Session: s.ID, IfAbsent: true})
	w := e.watchOn(t, r, pw.ModRev+1, "w")
	var cs []change
	px := e.put(t, ctx, sdk.PutRequest{Resource: r, Key: "x", Value: []byte("x1"), Session: s.ID, IfAbsent: true})
	cs = append(cs, change{sdk.EventPut, "x", px.ModRev, px.CreateRev, s.ID, []byte("x1")})
	py := e.put(t, ctx, sdk.PutRequest{Resource: r, Key: "y", Value: []byte("y1"), Session: s.ID, IfAbsent: true})
	cs = append(cs, change{sdk.EventPut, "y", py.ModRev, py.CreateRev, s.ID, []byte("y1")})
	dx := e.delete(t, ctx, sdk.DeleteRequest{Resource: r, Key: "x", ExpectRev: px.ModRev})
	cs = append(cs, change{typ: sdk.EventDelete, key: "x", rev: dx.Rev, session: s.ID})
	uw := e.update(t, ctx, sdk.UpdateRequest{Resource: r, Key: "w", Value: []byte("w2"), ExpectRev: pw.ModRev})
	cs = append(cs, change{sdk.EventPut, "w", uw.ModRev, pw.CreateRev, s.ID, []byte("w2")})
	for i, c := range cs {
		wantChange(t, fmt.Sprintf("event %d of a watch woken by its key's change", i+1), w.next(t), c)
	}
	dw := e.delete(t, ctx, sdk.DeleteRequest{Resource: r, Key: "w", ExpectRev: uw.ModRev})
	wantChange(t, "the named key's deletion", w.next(t), change{typ: sdk.EventDelete, key: "w", rev: dw.Rev, session: s.ID})
}

// checkWatchReplaysHistory: a Watch from a past revision delivers every
// put, update and delete since, in order, then the changes made while it
// runs.
func checkWatchReplaysHistory(t tb, e *env) {
	ctx := e.ctx(t, 0)
	s := e.open(t, ctx, e.b, longTTL)
	r := e.resource("r")
	cs := history(t, e, ctx, r, s)
	w := e.watch(t, r, cs[0].rev)
	for i, c := range cs {
		wantChange(t, fmt.Sprintf("replayed event %d", i+1), w.next(t), c)
	}
	pc := e.put(t, ctx, sdk.PutRequest{Resource: r, Key: "c", Value: []byte("c1"), Session: s.ID, IfAbsent: true})
	wantChange(t, "live event after the replay", w.next(t), change{sdk.EventPut, "c", pc.ModRev, pc.CreateRev, s.ID, []byte("c1")})
	dc := e.delete(t, ctx, sdk.DeleteRequest{Resource: r, Key: "c", ExpectRev: pc.ModRev})
	wantChange(t, "second live event", w.next(t), change{typ: sdk.EventDelete, key: "c", rev: dc.Rev, session: s.ID})
}

// checkWatchFromMidHistory: a Watch from the revision of a past change
// starts with that change, not before it.
func checkWatchFromMidHistory(t tb, e *env) {
	ctx := e.ctx(t, 0)
	s := e.open(t, ctx, e.b, longTTL)
	r := e.resource("r")
	cs := history(t, e, ctx, r, s)
	w := e.watch(t, r, cs[2].rev)
	for i, c := range cs[2:] {
		wantChange(t, fmt.Sprintf("event %d from revision %d", i+1, cs[2].rev), w.next(t), c)
	}
}

// checkWatchFromCurrentRevision: a Watch from the revision after Range's
// delivers only the changes made after that Range.
func checkWatchFromCurrentRevision(t tb, e *env) {
	ctx := e.ctx(t, 0)
	s := e.open(t, ctx, e.b, longTTL)
	r := e.resource("r")
	history(t, e, ctx, r, s)
	rg := e.rangeOf(t, ctx, e.b, r)
	w := e.watch(t, r, rg.Rev+1)
	pn := e.put(t, ctx, sdk.PutRequest{Resource: r, Key: "new", Value: []byte("n"), Session: s.ID, IfAbsent: true})
	wantChange(t, "first event of a Watch from now", w.next(t), change{sdk.EventPut, "new", pn.ModRev, pn.CreateRev, s.ID, []byte("n")})
	dn := e.delete(t, ctx, sdk.DeleteRequest{Resource: r, Key: "new"})
	wantChange(t, "second event of a Watch from now", w.next(t), change{typ: sdk.EventDelete, key: "new", rev: dn.Rev, session: s.ID})
}

// checkWatchEndsWithContext: a Watch returns its context's error when the
// context is cancelled or its deadline passes, whether or not it has
// delivered anything.
func checkWatchEndsWithContext(t tb, e *env) {
	ctx := e.ctx(t, 0)
	s := e.open(t, ctx, e.b, longTTL)
	r := e.resource("r")
	rg := e.rangeOf(t, ctx, e.b, r)

	wctx, cancel := context.WithCancel(ctx)
	defer cancel()
	got := make(chan sdk.Event, 16)
	done := make(chan error, 1)
	go func() {
		done <- e.b.Watch(wctx, r, rg.Rev+1, func(ev sdk.Event) error { got <- ev; return nil })
	}()
	e.put(t, ctx, sdk.PutRequest{Resource: r, Key: "k", Session: s.ID})
	select {
	case <-got:
	case err := <-done:
		t.Fatalf("Watch ended before its first event: %v", err)
	case <-time.After(e.cfg.timeout):
		t.Fatalf("Watch delivered no event within %v", e.cfg.timeout)
	}
	cancel()
	wantWatchEnd(t, e, "cancelled Watch", done, context.Canceled)

	next := e.rangeOf(t, ctx, e.b, r).Rev + 1
	idle, cancelIdle := context.WithCancel(ctx)
	idleDone := make(chan error, 1)
	go func() { idleDone <- e.b.Watch(idle, r, next, func(sdk.Event) error { return nil }) }()
	time.Sleep(50 * time.Millisecond)
	cancelIdle()
	wantWatchEnd(t, e, "cancelled idle Watch", idleDone, context.Canceled)

	short, cancelShort := context.WithTimeout(ctx, 200*time.Millisecond)
	defer cancelShort()
	shortDone := make(chan error, 1)
	go func() { shortDone <- e.b.Watch(short, r, next, func(sdk.Event) error { return nil }) }()
	wantWatchEnd(t, e, "Watch past its deadline", shortDone, context.DeadlineExceeded)
}

func wantWatchEnd(t tb, e *env, what string, done <-chan error, want error) {
	t.Helper()
	select {
	case err := <-done:
		if !errors.Is(err, want) {
			t.Errorf("%s returned %v, want %v", what, err, want)
		}
	case <-time.After(e.cfg.timeout):
		t.Fatalf("%s did not return within %v", what, e.cfg.timeout)
	}
}

// checkWatchReturnsSendError: when send fails, Watch stops and returns
// send's error.
func checkWatchReturnsSendError(t tb, e *env) {
	ctx := e.ctx(t, 0)
	s := e.open(t, ctx, e.b, longTTL)
	r := e.resource("r")
	p := e.put(t, ctx, sdk.PutRequest{Resource: r, Key: "k", Session: s.ID})
	e.put(t, ctx, sdk.PutRequest{Resource: r, Key: "k2", Session: s.ID})
	stop := errors.New("backendtest: stop watching")
	calls := 0
	done := make(chan error, 1)
	go func() {
		done <- e.b.Watch(ctx, r, p.ModRev, func(sdk.Event) error { calls++; return stop })
	}()
	wantWatchEnd(t, e, "Watch whose send failed", done, stop)
	if calls != 1 {
		t.Errorf("Watch called send %d times after it failed once", calls)
	}
}

// compactionWrites is how many changes checkWatchCompacted makes before
// watching from the first.
const compactionWrites = 150

// checkWatchCompacted: a Watch from a revision the store dropped from its
// history fails with ErrCompacted before delivering anything, and a Watch
// from after a fresh Range still works. A store that kept the whole history
// must deliver all of it instead.
func checkWatchCompacted(t tb, e *env) {
	ctx := e.ctx(t, e.cfg.timeout)
	s := e.open(t, ctx, e.b, longTTL)
	r := e.resource("r")
	var cs []change
	for i := range compactionWrites {
		v := []byte(fmt.Sprint(i))
		p := e.put(t, ctx, sdk.PutRequest{Resource: r, Key: "k", Value: v, Session: s.ID})
		cs = append(cs, change{sdk.EventPut, "k", p.ModRev, p.CreateRev, s.ID, v})
	}

	wctx, cancel := context.WithCancel(ctx)
	defer cancel()
	got := make(chan sdk.Event, compactionWrites)
	done := make(chan error, 1)
	go func() {
		done <- e.b.Watch(wctx, r, cs[0].rev, func(ev sdk.Event) error { got <- ev; return nil })
	}()
	var events []sdk.Event
	timeout := time.After(e.cfg.timeout)
	for len(events) < len(cs) {
		select {
		case ev := <-got:
			events = append(events, ev)
		case err := <-done:
			for len(got) > 0 {
				events = append(events, <-got)
			}
			if !errors.Is(err, sdk.ErrCompacted) {
				t.Fatalf("Watch from revision %d ended after %d of %d events: %v", cs[0].rev, len(events), len(cs), err)
			}
			if len(events) > 0 {
				t.Errorf("Watch from revision %d delivered %d events, then failed with ErrCompacted; want the error before any event", cs[0].rev, len(events))
			}
			t.Logf("store compacted its history: %v", err)
			checkWatchAfterCompaction(t, e, ctx, r, s)
			return
		case <-timeout:
			t.Fatalf("Watch from revision %d delivered %d of %d events within %v", cs[0].rev, len(events), len(cs), e.cfg.timeout)
		}
	}
	for i, c := range cs {
		wantChange(t, fmt.Sprintf("event %d", i+1), events[i], c)
		if t.Failed() {
			break
		}
	}
	t.Logf("store kept all %d changes; ErrCompacted not exercised", len(cs))
}

// checkWatchAfterCompaction: after ErrCompacted, the recovery the contract
// names — Range, then Watch from its revision on — works.
func checkWatchAfterCompaction(t tb, e *env, ctx context.Context, r string, s sdk.Session) {
	t.Helper()
	rg := e.rangeOf(t, ctx, e.b, r)
	w := e.watch(t, r, rg.Rev+1)
	p := e.put(t, ctx, sdk.PutRequest{Resource: r, Key: "after", Value: []byte("x"), Session: s.ID})
	wantChange(t, "Watch from a fresh Range after ErrCompacted", w.next(t), change{sdk.EventPut, "after", p.ModRev, p.CreateRev, s.ID, []byte("x")})
}
