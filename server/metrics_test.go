package server

import (
	"bytes"
	"net/http"
	"testing"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

// scrape reads /metrics and parses it with Prometheus's text parser.
func (e *testEnv) scrape() map[string]*dto.MetricFamily {
	e.t.Helper()
	r := e.do("GET", "/metrics", "")
	if r.status != http.StatusOK {
		e.t.Fatalf("/metrics: %d %s", r.status, r.body)
	}
	parser := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := parser.TextToMetricFamilies(bytes.NewReader(r.body))
	if err != nil {
		e.t.Fatalf("parse /metrics: %v", err)
	}
	return fams
}

// value is the sum of a family's counter, gauge or histogram-count values
// whose labels include want.
func value(fams map[string]*dto.MetricFamily, name string, want map[string]string) float64 {
	f := fams[name]
	if f == nil {
		return 0
	}
	var sum float64
next:
	for _, m := range f.Metric {
		for k, v := range want {
			found := false
			for _, l := range m.Label {
				if l.GetName() == k && l.GetValue() == v {
					found = true
				}
			}
			if !found {
				continue next
			}
		}
		switch {
		case m.Counter != nil:
			sum += m.Counter.GetValue()
		case m.Gauge != nil:
			sum += m.Gauge.GetValue()
		case m.Histogram != nil:
			sum += float64(m.Histogram.GetSampleCount())
		}
	}
	return sum
}

func TestPrometheusMetricsMove(t *testing.T) {
	e := newEnv(t, nil)
	before := e.scrape()
	for _, name := range []string{"locksmith_acquisitions_total", "locksmith_wait_seconds", "locksmith_active_leases",
		"locksmith_queue_depth", "locksmith_held_locks", "locksmith_backend_up", "go_goroutines",
		"locksmith_write_batches_total", "locksmith_batched_writes_total", "locksmith_local_handoffs_total"} {
		if before[name] == nil {
			t.Fatalf("/metrics has no %s", name)
		}
	}
	if value(before, "locksmith_backend_up", nil) != 1 {
		t.Fatal("backend_up is not 1")
	}
	events := e.subscribe("")
	a := e.acquire(`{"resource":"m1"}`)
	e.acquire(`{"resource":"m2","mode":"shared"}`)
	if r := e.do("POST", "/api/v1/leases", `{"resource":"m1"}`); r.status != http.StatusConflict {
		t.Fatalf("conflict: %d", r.status)
	}
	e.do("DELETE", "/api/v1/leases/"+a.ID, "")
	// The feed counts an event before it streams it: once the release is
	// streamed, every count above is in.
	events.next(t, func(ev Event) bool { return ev.Kind == "released" && ev.Resource == "m1" })
	after := e.scrape()
	checks := []struct {
		name   string
		labels map[string]string
		delta  float64
	}{
		{"locksmith_acquisitions_total", nil, 2},
		{"locksmith_wait_seconds", nil, 2},
		{"locksmith_acquire_failures_total", map[string]string{"cause": "conflict"}, 1},
		{"locksmith_releases_total", nil, 1},
		{"locksmith_hold_seconds", nil, 1},
		{"locksmith_active_leases", nil, 1},
	}
	for _, c := range checks {
		if d := value(after, c.name, c.labels) - value(before, c.name, c.labels); d != c.delta {
			t.Errorf("%s%v moved by %v, want %v", c.name, c.labels, d, c.delta)
		}
	}
}

func TestMetricsJSON(t *testing.T) {
	e := newEnv(t, nil)
	l := e.acquire(`{"resource":"j"}`)
	e.do("DELETE", "/api/v1/leases/"+l.ID, "")
	for _, path := range []string{"/api/v1/metrics", "/api/metrics"} {
		r := e.do("GET", path, "")
		var m struct {
			Acquisitions, Releases uint64
			Wait                   struct{ Count int }
			SuccessRate            float64 `json:"success_rate"`
		}
		r.json(t, &m)
		if r.status != http.StatusOK || m.Acquisitions != 1 || m.Releases != 1 || m.Wait.Count != 1 || m.SuccessRate != 1 {
			t.Fatalf("%s: %d %s", path, r.status, r.body)
		}
	}
}
