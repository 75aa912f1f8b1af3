package server

import (
	"sync"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/locksmithx/locksmith/host"
)

// feedBacklog is how many recent events a new stream can replay.
const feedBacklog = 1024

// Event is one entry of the event stream: a host lock event, a plugin
// exit or restart, or the server's own word that an HTTP lease expired
// unrenewed (kind "lost").
type Event struct {
	// ID increases by one per event; a stream resumes after it.
	ID       int64     `json:"id"`
	Kind     string    `json:"kind"`
	Resource string    `json:"resource,omitempty"`
	Mode     string    `json:"mode,omitempty"`
	Token    int64     `json:"token,omitempty"`
	Time     time.Time `json:"time"`
	// WaitMS is how long the request waited (acquired, failed); HeldMS
	// how long the lease was held (released, lost).
	WaitMS float64 `json:"wait_ms,omitempty"`
	HeldMS float64 `json:"held_ms,omitempty"`
	// Error says why a request failed or a lease was lost.
	Error string `json:"error,omitempty"`
	// LeaseID names the HTTP lease an event is about, when it is one.
	LeaseID string `json:"lease_id,omitempty"`
	// Plugin names the plugin of plugin_exited and plugin_restarted.
	Plugin string `json:"plugin,omitempty"`
}

// feed follows the host's events, counts them into the metrics, keeps the
// latest for replay and fans them out to the event streams. A stream that
// does not keep up is ended rather than slowing the others.
type feed struct {
	log     hclog.Logger
	metrics *metrics
	stop    func()
	done    chan struct{}

	mu     sync.Mutex
	nextID int64
	recent []Event // ring of the latest feedBacklog events, oldest first
	subs   map[*subscriber]struct{}
	closed bool
}

// subscriber is one event stream.
type subscriber struct {
	ch   chan Event
	gone chan struct{} // closed when the feed drops the subscriber
}

func newFeed(h *host.Host, m *metrics, log hclog.Logger) *feed {
	events, stop := h.Subscribe(4096)
	f := &feed{log: log, metrics: m, stop: stop, done: make(chan struct{}), subs: map[*subscriber]struct{}{}}
	go func() {
		defer close(f.done)
		for ev := range events {
			f.publish(fromHost(ev), ev.Err)
		}
	}()
	return f
}

func fromHost(ev host.Event) Event {
	out := Event{Kind: ev.Kind.String(), Resource: ev.Resource, Token: ev.Token, Time: ev.Time,
		WaitMS: ms(ev.Wait), HeldMS: ms(ev.Held), Plugin: ev.Plugin}
	if ev.Mode != 0 {
		out.Mode = ev.Mode.String()
	}
	if ev.Err != nil {
		out.Error = ev.Err.Error()
	}
	return out
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

// publish numbers ev, records it and hands it to every stream; err is the
// error behind it (a failure's or a loss's cause), for the metrics.
func (f *feed) publish(ev Event, err error) {
	if ev.Time.IsZero() {
		ev.Time = time.Now()
	}
	f.metrics.observe(ev, err)
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.closed {
		return
	}
	f.nextID++
	ev.ID = f.nextID
	if len(f.recent) == feedBacklog {
		copy(f.recent, f.recent[1:])
		f.recent = f.recent[:feedBacklog-1]
	}
	f.recent = append(f.recent, ev)
	for s := range f.subs {
		select {
		case s.ch <- ev:
		default:
			f.log.Warn("event stream too slow; ending it")
			f.dropLocked(s)
		}
	}
}

// subscribe starts a stream that first replays the retained events after
// id since (none if since < 0), then follows new ones.
func (f *feed) subscribe(since int64) (*subscriber, []Event) {
	f.mu.Lock()
	defer f.mu.Unlock()
	s := &subscriber{ch: make(chan Event, 256), gone: make(chan struct{})}
	if f.closed {
		close(s.gone)
		return s, nil
	}
	var replay []Event
	if since >= 0 {
		for _, ev := range f.recent {
			if ev.ID > since {
				replay = append(replay, ev)
			}
		}
	}
	f.subs[s] = struct{}{}
	return s, replay
}

func (f *feed) unsubscribe(s *subscriber) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.dropLocked(s)
}

func (f *feed) dropLocked(s *subscriber) {
	if _, ok := f.subs[s]; ok {
		delete(f.subs, s)
		close(s.gone)
	}
}

// close ends every stream and stops following the host.
func (f *feed) close() {
	f.mu.Lock()
	if f.closed {
		f.mu.Unlock()
		return
	}
	f.closed = true
	for s := range f.subs {
		f.dropLocked(s)
	}
	f.mu.Unlock()
	f.stop()
	<-f.done
}
