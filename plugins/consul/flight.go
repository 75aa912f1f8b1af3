package consul

import (
	"context"
	"strconv"
	"sync"

	"github.com/locksmithx/locksmith/sdk"
)

// flights shares one read of a resource's events among the watchers of
// this process that ask for the same revisions at the same time — after a
// change every watcher of the resource wakes at once and wants the same
// new events. Nothing is kept once a read is done.
type flights struct {
	mu sync.Mutex
	m  map[string]*flight
}

type flight struct {
	done chan struct{}
	evs  []sdk.Event
	err  error
	// joined counts the callers that share the read (under flights.mu).
	joined int
}

func newFlights() *flights { return &flights{m: map[string]*flight{}} }

// do returns read's result, sharing a read already in flight for the same
// resource and revisions. A caller whose ctx ends stops waiting; the read
// goes on for the others.
func (f *flights) do(ctx context.Context, resource string, from, to int64, read func() ([]sdk.Event, error)) ([]sdk.Event, error) {
	key := strconv.FormatInt(from, 10) + "-" + strconv.FormatInt(to, 10) + "/" + resource
	f.mu.Lock()
	if fl, ok := f.m[key]; ok {
		fl.joined++
		f.mu.Unlock()
		select {
		case <-fl.done:
			return fl.evs, fl.err
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
	fl := &flight{done: make(chan struct{})}
	f.m[key] = fl
	f.mu.Unlock()
	fl.evs, fl.err = read()
	f.mu.Lock()
	delete(f.m, key)
	f.mu.Unlock()
	close(fl.done)
	return fl.evs, fl.err
}
