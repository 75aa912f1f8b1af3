package host

import (
	"sync"
	"time"
)

// EventKind says what happened to a lock request of this host.
type EventKind int

// The event kinds.
const (
	EventWaiting   EventKind = iota + 1 // queued behind incompatible requests
	EventAcquired                       // granted
	EventFailed                         // not granted: conflict, timeout, deadlock, condition
	EventConverted                      // changed mode in place
	EventReleased                       // released by its holder
	EventLost                           // lost: session or backend gone
	// Plugin events: Plugin names the plugin, Resource is empty.
	EventPluginExited    // the backend plugin's process exited on its own
	EventPluginRestarted // the supervisor started it again (Wait: how long it was down)
	// Config events: Plugin names the default backend after the event.
	EventConfigSwapped // UpdateConfig swapped a new pipeline in
	EventConfigRefused // UpdateConfig refused a config (Err says why); nothing changed
	EventMigrated      // Lease.Migrate moved a lease (Resource, Token: the target's; Plugin: its backend)
)

var eventNames = map[EventKind]string{
	EventWaiting: "waiting", EventAcquired: "acquired", EventFailed: "failed",
	EventConverted: "converted", EventReleased: "released", EventLost: "lost",
	EventPluginExited: "plugin_exited", EventPluginRestarted: "plugin_restarted",
	EventConfigSwapped: "config_swapped", EventConfigRefused: "config_refused", EventMigrated: "migrated",
}

func (k EventKind) String() string { return eventNames[k] }

// Event is one change in the life of a lock request of this host.
type Event struct {
	Kind     EventKind
	Resource string
	Mode     Mode
	Token    int64
	Time     time.Time
	// Wait is how long the request waited (Acquired, Failed); Held how
	// long the lease was held (Released, Lost).
	Wait time.Duration
	Held time.Duration
	// Err is why a request failed or a lease was lost.
	Err error
	// Plugin names the plugin of a plugin event.
	Plugin string
}

// eventHub fans events out to subscribers. A subscriber that does not keep
// up misses events rather than slowing locks down; Dropped counts them.
type eventHub struct {
	mu      sync.Mutex
	subs    map[chan Event]struct{}
	dropped uint64
}

// Subscribe returns a channel of this host's lock events, buffered for
// buffer events, and a function that ends the subscription and closes the
// channel. Events that find the buffer full are dropped (see Metrics).
func (h *Host) Subscribe(buffer int) (<-chan Event, func()) {
	ch := make(chan Event, max(buffer, 1))
	h.events.mu.Lock()
	if h.events.subs == nil {
		h.events.subs = map[chan Event]struct{}{}
	}
	h.events.subs[ch] = struct{}{}
	h.events.mu.Unlock()
	var once sync.Once
	return ch, func() {
		once.Do(func() {
			h.events.mu.Lock()
			delete(h.events.subs, ch)
			close(ch)
			h.events.mu.Unlock()
		})
	}
}

func (e *eventHub) publish(ev Event) {
	if ev.Time.IsZero() {
		ev.Time = time.Now()
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	for ch := range e.subs {
		select {
		case ch <- ev:
		default:
			e.dropped++
		}
	}
}
