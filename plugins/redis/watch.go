package redis

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strconv"
	"strings"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/locksmithx/locksmith/sdk"
)

// Watch subscribes to the resource's channel, then replays the resource's
// event log from fromRev, then delivers the events the scripts publish.
// Whenever it sees a gap in the revisions, the subscription reconnects, or
// the resource's revision moved past the last event delivered, it reads
// the log again, so no change is missed. At the sweep's pace it also
// re-checks the sessions of the resource's entries, so the entries of a
// dead session are removed (and their deletes delivered) even if no other
// process touches the resource. A fromRev older than the log gives
// sdk.ErrCompacted; fromRev below 1 means 1.
//
// Watch blocks until ctx ends (returning ctx's error), send returns an
// error (returning it), or Redis cannot be reached (an error with code
// sdk.CodeUnavailable); the caller resumes from the revision after the
// last event it got.
func (s *Store) Watch(ctx context.Context, resource string, fromRev int64, send func(sdk.Event) error) error {
	c, err := s.conn()
	if err != nil {
		return err
	}
	if resource == "" {
		return sdk.Errorf(sdk.CodeInvalidArgument, "redis: watch: resource is empty")
	}
	w := &watcher{c: c, resource: resource, keys: c.keys.resource(resource), next: max(fromRev, 1), send: send}
	return w.run(ctx)
}

type watcher struct {
	c        *conn
	resource string
	keys     resourceKeys
	next     int64
	send     func(sdk.Event) error
}

func (w *watcher) run(ctx context.Context) error {
	ps := w.c.rdb.Subscribe(ctx, w.keys.channel)
	defer ps.Close()
	// A receive only looks at ctx when it times out; closing the
	// subscription ends it, and frees its connection, as soon as ctx ends.
	stop := context.AfterFunc(ctx, func() { _ = ps.Close() })
	defer stop()
	if _, err := ps.Receive(ctx); err != nil {
		return w.fail(ctx, err)
	}
	if err := w.catchUp(ctx); err != nil {
		return err
	}
	lastCheck := time.Now()
	for {
		every := w.c.sweep.interval()
		msg, err := ps.ReceiveTimeout(ctx, every)
		if ctx.Err() != nil {
			return ctx.Err()
		}
		switch m := msg.(type) {
		case *goredis.Message:
			ev, derr := decodeEvent(m.Payload)
			if derr != nil {
				return sdk.Errorf(sdk.CodeCorrupt, "redis: watch %q: %v", w.resource, derr)
			}
			switch {
			case ev.Rev == w.next:
				if err := w.deliver(ev); err != nil {
					return err
				}
			case ev.Rev > w.next:
				if err := w.catchUp(ctx); err != nil {
					return err
				}
			}
		case *goredis.Subscription:
			// Subscribed again after a reconnect: events may have been
			// published in between.
			if err := w.catchUp(ctx); err != nil {
				return err
			}
		}
		if err != nil && !isTimeout(err) {
			// The subscription broke; go-redis reconnects on the next
			// receive. Check that Redis answers and catch up meanwhile.
			if err := w.catchUp(ctx); err != nil {
				return err
			}
			if err := sleepCtx(ctx, 50*time.Millisecond); err != nil {
				return err
			}
		}
		if time.Since(lastCheck) >= every {
			lastCheck = time.Now()
			if err := w.check(ctx); err != nil {
				return err
			}
		}
	}
}

// check removes the entries of dead sessions (the removals arrive as
// events) and catches up if the revision moved without a message.
func (w *watcher) check(ctx context.Context) error {
	rep, err := w.c.rangeLive(ctx, w.resource)
	if err != nil {
		return w.fail(ctx, err)
	}
	if rep.rev >= w.next {
		return w.catchUp(ctx)
	}
	return nil
}

// catchUp delivers every logged event from w.next on.
func (w *watcher) catchUp(ctx context.Context) error {
	v, err := historyScript.Run(ctx, w.c.rdb, []string{w.keys.rev, w.keys.log}, w.next).Slice()
	if err != nil {
		return w.fail(ctx, err)
	}
	if len(v) < 2 {
		return sdk.Errorf(sdk.CodeCorrupt, "redis: watch %q: unexpected history reply", w.resource)
	}
	cur, _ := v[0].(int64)
	covered, _ := v[1].(int64)
	if covered == 0 {
		return sdk.Errorf(sdk.CodeCompacted,
			"redis: watch %q: revision %d is older than the kept history (current revision %d, history %d events): range again and watch from its revision",
			w.resource, w.next, cur, w.c.cfg.History)
	}
	for _, raw := range v[2:] {
		s, _ := raw.(string)
		ev, err := decodeEvent(s)
		if err != nil {
			return sdk.Errorf(sdk.CodeCorrupt, "redis: watch %q: %v", w.resource, err)
		}
		if ev.Rev < w.next {
			continue
		}
		if err := w.deliver(ev); err != nil {
			return err
		}
	}
	return nil
}

func (w *watcher) deliver(ev sdk.Event) error {
	w.next = ev.Rev + 1
	return w.send(ev)
}

func (w *watcher) fail(ctx context.Context, err error) error {
	if ctx.Err() != nil {
		return ctx.Err()
	}
	return w.c.fail(fmt.Sprintf("watch %q", w.resource), err)
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

// decodeEvent parses "<p|d> <rev> <createRev> <modRev> <len(key)>
// <len(session)>\n" + key + session + value.
func decodeEvent(s string) (sdk.Event, error) {
	head, body, ok := strings.Cut(s, "\n")
	if !ok {
		return sdk.Event{}, fmt.Errorf("malformed event %q", truncate(s))
	}
	f := strings.Fields(head)
	if len(f) != 6 || (f[0] != "p" && f[0] != "d") {
		return sdk.Event{}, fmt.Errorf("malformed event header %q", head)
	}
	var n [5]int64
	for i := range n {
		v, err := strconv.ParseInt(f[i+1], 10, 64)
		if err != nil || v < 0 {
			return sdk.Event{}, fmt.Errorf("malformed event header %q", head)
		}
		n[i] = v
	}
	klen, slen := n[3], n[4]
	if klen+slen > int64(len(body)) {
		return sdk.Event{}, fmt.Errorf("event %q shorter than its header says", head)
	}
	ev := sdk.Event{Type: sdk.EventPut, Rev: n[0], Entry: sdk.Entry{
		Key:       body[:klen],
		Session:   body[klen : klen+slen],
		CreateRev: n[1],
		ModRev:    n[2],
	}}
	if v := body[klen+slen:]; v != "" {
		ev.Entry.Value = []byte(v)
	}
	if f[0] == "d" {
		ev.Type = sdk.EventDelete
	}
	return ev, nil
}

func truncate(s string) string {
	if len(s) > 64 {
		return s[:64] + "…"
	}
	return s
}
