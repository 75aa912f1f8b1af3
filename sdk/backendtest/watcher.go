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
}

// watch starts a Watch of resource from fromRev on e.b. It is cancelled
// when the check ends; a Watch that does not return then fails the check.
func (e *env) watch(t tb, resource string, fromRev int64) *watcher {
	ctx, cancel := context.WithCancel(context.Background())
	w := &watcher{
		events:  make(chan sdk.Event, 1024),
		done:    make(chan struct{}),
		cancel:  cancel,
		timeout: e.cfg.timeout,
		what:    "Watch " + resource + " from " + strconv.FormatInt(fromRev, 10),
	}
	go func() {
		defer close(w.done)
		w.err = e.b.Watch(ctx, resource, fromRev, func(ev sdk.Event) error {
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
		t.Fatalf("%s: no event within %v", w.what, w.timeout)
	}
	return sdk.Event{}
}
