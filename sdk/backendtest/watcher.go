package backendtest

import (
	"context"
	"strconv"
	"time"

	"github.com/locksmithx/locksmith/sdk"
)

// watcher runs one Watch in the background and hands its events to the
// check one at a time.
type watcher struct {
	events  chan sdk.Event
	done    chan struct{}
	err     error // Watch's result, set before done is closed
	cancel  context.CancelFunc
	timeout time.Duration
	what    string
	// b and resource let a check that waited in vain Range the resource
	// and say which guarantee broke.
	b        sdk.Backend
	resource string
}

// watch starts a Watch of resource from fromRev on e.b. It is cancelled
// when the check ends; a Watch that does not return then fails the check.
func (e *env) watch(t tb, resource string, fromRev int64) *watcher {
	return e.watchOn(t, resource, fromRev)
}

// watchOn is watch with sdk.WithWakeOn(keys).
func (e *env) watchOn(t tb, resource string, fromRev int64, keys ...string) *watcher {
	ctx, cancel := context.WithCancel(context.Background())
	wctx := sdk.WithWakeOn(ctx, keys...)
	w := &watcher{
		events:   make(chan sdk.Event, 1024),
		done:     make(chan struct{}),
		cancel:   cancel,
		timeout:  e.cfg.timeout,
		what:     "Watch " + resource + " from " + strconv.FormatInt(fromRev, 10),
		b:        e.b,
		resource: resource,
	}
	go func() {
		defer close(w.done)
		w.err = e.b.Watch(wctx, resource, fromRev, func(ev sdk.Event) error {
			select {
			case w.events <- ev:
				return nil
			case <-ctx.Done():
				return ctx.Err()
			}
		})
	}()
	t.Cleanup(func() {
		cancel()
		select {
		case <-w.done:
		case <-time.After(w.timeout):
			t.Errorf("%s: did not return within %v of its context's end", w.what, w.timeout)
		}
	})
	return w
}

// next returns the next event, failing the check if none comes in time or
// the Watch ends.
func (w *watcher) next(t tb) sdk.Event {
	t.Helper()
	return w.nextOr(t, nil)
}

// nextOr is next; when no event comes in time, the failure says what a
// Range of the resource shows now and, with diagnose, which guarantee that
// state breaks.
func (w *watcher) nextOr(t tb, diagnose func(sdk.RangeResult) string) sdk.Event {
	t.Helper()
	timer := time.NewTimer(w.timeout)
	defer timer.Stop()
	select {
	case ev := <-w.events:
		return ev
	case <-w.done:
		select {
		case ev := <-w.events:
			return ev
		default:
		}
		t.Fatalf("%s: ended before the expected event: %v", w.what, w.err)
	case <-timer.C:
		ctx, cancel := context.WithTimeout(context.Background(), w.timeout)
		defer cancel()
		rg, err := w.b.Range(ctx, w.resource)
		if err != nil {
			t.Fatalf("%s: no event within %v, and Range %s fails: %v", w.what, w.timeout, w.resource, err)
		}
		// A store that makes the change only when read (expires a session
		// in Range, say) delivers it now.
		grace := time.NewTimer(min(w.timeout, 2*time.Second))
		defer grace.Stop()
		select {
		case ev := <-w.events:
			t.Fatalf("%s: no event within %v, then %s %s at revision %d right after a Range: the store made the change only when read; it must happen on its own (a session must expire without a read to trigger it)",
				w.what, w.timeout, ev.Type, ev.Entry.Key, ev.Rev)
		case <-grace.C:
		}
		why := ""
		if diagnose != nil {
			why = ": " + diagnose(rg)
		}
		t.Fatalf("%s: no event within %v; Range now: revision %d, entries %s%s", w.what, w.timeout, rg.Rev, keysOf(rg.Entries), why)
	}
	return sdk.Event{}
}
