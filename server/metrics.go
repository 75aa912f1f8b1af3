package server

import (
	"context"
	"errors"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/locksmithx/locksmith/host"
	"github.com/locksmithx/locksmith/sdk"
)

// queueTTL is how long a read of the store's queues serves scrapes.
const queueTTL = time.Second

// metrics are the server's Prometheus collectors, fed by its event feed
// and by reads of the host at scrape time. Each server has its own
// registry.
type metrics struct {
	registry *prometheus.Registry

	acquisitions prometheus.Counter
	failures     *prometheus.CounterVec
	conversions  prometheus.Counter
	releases     prometheus.Counter
	lost         *prometheus.CounterVec
	plugin       *prometheus.CounterVec
	wait         prometheus.Histogram
	hold         prometheus.Histogram

	h       *host.Host
	mu      sync.Mutex
	queueAt time.Time
	held    float64
	waiting float64
}

// lockBuckets span a lock's typical waits and holds: 100 µs to ~100 s.
var lockBuckets = prometheus.ExponentialBuckets(0.0001, 4, 11)

func newMetrics(h *host.Host) *metrics {
	m := &metrics{
		registry: prometheus.NewRegistry(),
		h:        h,
		acquisitions: prometheus.NewCounter(prometheus.CounterOpts{Name: "locksmith_acquisitions_total",
			Help: "Lock requests granted."}),
		failures: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "locksmith_acquire_failures_total",
			Help: "Lock requests not granted, by cause."}, []string{"cause"}),
		conversions: prometheus.NewCounter(prometheus.CounterOpts{Name: "locksmith_conversions_total",
			Help: "Leases converted to another mode in place."}),
		releases: prometheus.NewCounter(prometheus.CounterOpts{Name: "locksmith_releases_total",
			Help: "Leases released by their holders."}),
		lost: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "locksmith_lost_total",
			Help: "Leases lost, by cause."}, []string{"cause"}),
		plugin: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "locksmith_plugin_events_total",
			Help:        "Backend plugin processes that exited on their own, and restarts after them.",
			ConstLabels: prometheus.Labels{"backend": h.BackendName()}}, []string{"event"}),
		wait: prometheus.NewHistogram(prometheus.HistogramOpts{Name: "locksmith_wait_seconds",
			Help: "How long granted requests waited.", Buckets: lockBuckets}),
		hold: prometheus.NewHistogram(prometheus.HistogramOpts{Name: "locksmith_hold_seconds",
			Help: "How long leases were held, until released or lost.", Buckets: lockBuckets}),
	}
	backend := prometheus.Labels{"backend": h.BackendName()}
	renewal := func(q string, pick func(host.Percentiles) time.Duration) prometheus.GaugeFunc {
		return prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "locksmith_renewal_seconds",
			Help:        "Session renewal latency over the latest renewals (one KeepAlive each), by quantile.",
			ConstLabels: prometheus.Labels{"backend": h.BackendName(), "quantile": q}},
			func() float64 { return pick(h.Metrics().Renewal).Seconds() })
	}
	m.plugin.WithLabelValues("exited")
	m.plugin.WithLabelValues("restarted")
	m.registry.MustRegister(m.acquisitions, m.failures, m.conversions, m.releases, m.lost, m.plugin, m.wait, m.hold,
		renewal("0.5", func(p host.Percentiles) time.Duration { return p.P50 }),
		renewal("0.99", func(p host.Percentiles) time.Duration { return p.P99 }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "locksmith_active_leases",
			Help: "Leases this server's host holds now."}, func() float64 { return float64(h.Metrics().Active) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "locksmith_held_locks",
			Help: "Granted requests in the store, every host's (read at most once a second)."},
			func() float64 { held, _ := m.queues(); return held }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "locksmith_queue_depth",
			Help: "Waiting requests in the store, every host's (read at most once a second)."},
			func() float64 { _, waiting := m.queues(); return waiting }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "locksmith_backend_up", ConstLabels: backend,
			Help: "1 while the backend plugin runs and answers its health check."}, m.backendUp),
		prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "locksmith_write_batches_total",
			Help: "Batch calls that carried the puts and deletes of concurrent requests to the backend plugins running now."},
			func() float64 { return float64(h.Metrics().Batches) }),
		prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "locksmith_batched_writes_total",
			Help: "Puts and deletes those Batch calls carried."},
			func() float64 { return float64(h.Metrics().BatchedWrites) }),
		prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "locksmith_local_handoffs_total",
			Help: "Waits ended by the queue a release of this host handed over, not by the store's watch."},
			func() float64 { return float64(h.Metrics().LocalHandoffs) }),
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
	)
	return m
}

// observe counts one event; err is the error behind it.
func (m *metrics) observe(ev Event, err error) {
	switch ev.Kind {
	case host.EventAcquired.String():
		m.acquisitions.Inc()
		m.wait.Observe(ev.WaitMS / 1000)
	case host.EventFailed.String():
		m.failures.WithLabelValues(failureCause(err)).Inc()
	case host.EventConverted.String():
		m.conversions.Inc()
	case host.EventReleased.String():
		m.releases.Inc()
		m.hold.Observe(ev.HeldMS / 1000)
	case host.EventPluginExited.String():
		m.plugin.WithLabelValues("exited").Inc()
	case host.EventPluginRestarted.String():
		m.plugin.WithLabelValues("restarted").Inc()
	case host.EventLost.String(), "lost":
		m.lost.WithLabelValues(lossCause(ev, err)).Inc()
		if ev.LeaseID == "" {
			m.hold.Observe(ev.HeldMS / 1000)
		}
	}
}

// failureCause names why a request was not granted.
func failureCause(err error) string {
	for _, c := range []struct {
		err  error
		name string
	}{
		{host.ErrConflict, "conflict"}, {host.ErrTimeout, "timeout"}, {host.ErrDeadlock, "deadlock"},
		{host.ErrDenied, "denied"}, {host.ErrBackendUnavailable, "backend_unavailable"},
		{host.ErrConditionFailed, "condition_failed"}, {host.ErrLost, "lost"}, {host.ErrClosed, "closed"},
	} {
		if errors.Is(err, c.err) {
			return c.name
		}
	}
	if errors.Is(err, context.Canceled) {
		return "cancelled"
	}
	return "other"
}

// lossCause names why a lease was lost.
func lossCause(ev Event, err error) string {
	switch {
	case ev.LeaseID != "":
		return "not_renewed"
	case errors.Is(err, host.ErrBackendUnavailable):
		return "backend_unavailable"
	case errors.Is(err, sdk.ErrSessionExpired):
		return "session_expired"
	}
	return "other"
}

// queues reads (at most once per queueTTL) how many requests the store
// holds granted and waiting.
func (m *metrics) queues() (held, waiting float64) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if time.Since(m.queueAt) < queueTTL {
		return m.held, m.waiting
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	tree, err := m.h.Tree(ctx)
	if err != nil {
		return m.held, m.waiting
	}
	m.held, m.waiting = 0, 0
	var walk func(n *host.TreeNode)
	walk = func(n *host.TreeNode) {
		if n.Status != nil {
			m.held += float64(len(n.Status.Holders))
			m.waiting += float64(len(n.Status.Waiters))
		}
		for _, c := range n.Children {
			walk(c)
		}
	}
	walk(tree)
	m.queueAt = time.Now()
	return m.held, m.waiting
}

func (m *metrics) backendUp() float64 {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	if m.h.Ping(ctx) != nil {
		return 0
	}
	return 1
}
