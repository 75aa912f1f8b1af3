package host

import (
	"errors"
	"sort"
	"sync"
	"time"
)

// sampleCap bounds the recent wait and hold times kept for percentiles.
const sampleCap = 1024

// Metrics is a snapshot of this host's lock activity.
type Metrics struct {
	// Active is the number of leases held now.
	Active int
	// Acquisitions counts granted requests; Failures those that were not
	// (Conflicts, Timeouts and Deadlocks among them).
	Acquisitions, Failures            uint64
	Conflicts, Timeouts, Deadlocks    uint64
	Conversions, Releases, LostLeases uint64
	// SuccessRate is Acquisitions / (Acquisitions + Failures), 1 if none.
	SuccessRate float64
	// Wait and Hold summarise the most recent requests.
	Wait, Hold Percentiles
	// DroppedEvents counts events subscribers were too slow to take.
	DroppedEvents uint64
	// Renewal summarises the latest session renewals (one KeepAlive each).
	Renewal Percentiles
	// PluginExits counts backend plugin processes that exited on their
	// own; PluginRestarts the restarts that followed.
	PluginExits, PluginRestarts uint64
	// LocalHandoffs counts waits ended by a queue that a release of this
	// host's handed over (local handoff), not by the store's watch.
	LocalHandoffs uint64
	// Batches counts the Batch calls that carried puts and deletes of
	// concurrent requests to the backend plugins running now, and
	// BatchedWrites the writes they carried (see sdk.CapBatch).
	Batches, BatchedWrites uint64
}

// Percentiles summarise a set of durations.
type Percentiles struct {
	Count              int
	P50, P90, P99, Max time.Duration
}

type metrics struct {
	mu                             sync.Mutex
	acquisitions, failures         uint64
	conflicts, timeouts, deadlocks uint64
	conversions, releases, lost    uint64
	pluginExits, pluginRestarts    uint64
	localHandoffs                  uint64
	waits, holds, renewals         ring
}

// handedOff records a wait ended by a locally handed queue.
func (m *metrics) handedOff() {
	m.mu.Lock()
	m.localHandoffs++
	m.mu.Unlock()
}

// renewed records how long one session renewal took.
func (m *metrics) renewed(d time.Duration) {
	m.mu.Lock()
	m.renewals.add(d)
	m.mu.Unlock()
}

// ring keeps the last sampleCap durations.
type ring struct {
	buf  []time.Duration
	next int
}

func (r *ring) add(d time.Duration) {
	if len(r.buf) < sampleCap {
		r.buf = append(r.buf, d)
		return
	}
	r.buf[r.next] = d
	r.next = (r.next + 1) % sampleCap
}

func (r *ring) percentiles() Percentiles {
	s := append([]time.Duration(nil), r.buf...)
	if len(s) == 0 {
		return Percentiles{}
	}
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	at := func(p int) time.Duration { return s[min((len(s)*p+99)/100, len(s))-1] }
	return Percentiles{Count: len(s), P50: at(50), P90: at(90), P99: at(99), Max: s[len(s)-1]}
}

func (m *metrics) record(ev Event) {
	m.mu.Lock()
	defer m.mu.Unlock()
	switch ev.Kind {
	case EventAcquired:
		m.acquisitions++
		m.waits.add(ev.Wait)
	case EventFailed:
		m.failures++
		switch {
		case errors.Is(ev.Err, ErrConflict):
			m.conflicts++
		case errors.Is(ev.Err, ErrTimeout):
			m.timeouts++
		case errors.Is(ev.Err, ErrDeadlock):
			m.deadlocks++
		}
	case EventConverted:
		m.conversions++
	case EventReleased:
		m.releases++
		m.holds.add(ev.Held)
	case EventLost:
		m.lost++
		m.holds.add(ev.Held)
	case EventPluginExited:
		m.pluginExits++
	case EventPluginRestarted:
		m.pluginRestarts++
	}
}

// Metrics returns a snapshot of this host's lock activity.
func (h *Host) Metrics() Metrics {
	h.mu.Lock()
	active := len(h.leases)
	h.mu.Unlock()
	var batches, batched uint64
	for _, s := range h.runningSlots() {
		batches += s.sup.writes.batches.Load()
		batched += s.sup.writes.writes.Load()
	}
	m := &h.metrics
	m.mu.Lock()
	defer m.mu.Unlock()
	out := Metrics{
		Active: active, Acquisitions: m.acquisitions, Failures: m.failures,
		Conflicts: m.conflicts, Timeouts: m.timeouts, Deadlocks: m.deadlocks,
		Conversions: m.conversions, Releases: m.releases, LostLeases: m.lost,
		SuccessRate: 1, Wait: m.waits.percentiles(), Hold: m.holds.percentiles(),
		Renewal: m.renewals.percentiles(), PluginExits: m.pluginExits, PluginRestarts: m.pluginRestarts,
		LocalHandoffs: m.localHandoffs,
	}
	if n := m.acquisitions + m.failures; n > 0 {
		out.SuccessRate = float64(m.acquisitions) / float64(n)
	}
	h.events.mu.Lock()
	out.DroppedEvents = h.events.dropped
	h.events.mu.Unlock()
	out.Batches, out.BatchedWrites = batches, batched
	return out
}

// note records an event in the metrics and sends it to subscribers.
func (h *Host) note(ev Event) {
	h.metrics.record(ev)
	h.events.publish(ev)
}
