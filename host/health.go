package host

import (
	"context"
	"time"
)

// Health is a host's report on itself: its backend plugin, its session and
// the stored state the backend checked.
type Health struct {
	// OK is true when the backend answers, reports itself healthy and
	// found no problem in its stored state.
	OK      bool         `json:"ok"`
	Backend PluginHealth `json:"backend"`
	// Session is the host's session on the backend, if one is open.
	Session *SessionHealth `json:"session,omitempty"`
	// Leases is how many leases the host holds.
	Leases int `json:"leases"`
	// Problems are what the backend's Check found in its stored state
	// (corruption, entries of dead sessions); Repair fixes them.
	Problems []Problem `json:"problems"`
	// CheckError says why the stored state could not be checked.
	CheckError string `json:"check_error,omitempty"`
}

// PluginHealth describes one running plugin process.
type PluginHealth struct {
	Name     string `json:"name"`
	Version  string `json:"version,omitempty"`
	Protocol int    `json:"protocol,omitempty"`
	PID      int    `json:"pid,omitempty"`
	// Alive is true while the plugin process runs.
	Alive bool `json:"alive"`
	// Healthy is the plugin's own Health answer.
	Healthy bool `json:"healthy"`
	// RTT is the round trip of one Health call to the plugin.
	RTT   time.Duration `json:"rtt_ns"`
	Error string        `json:"error,omitempty"`
}

// SessionHealth describes the host's session on its backend.
type SessionHealth struct {
	ID  string        `json:"id"`
	TTL time.Duration `json:"ttl_ns"`
}

// Health reports on the backend plugin (liveness, version, round-trip
// time), the host's session, and the backend's check of every stored
// resource. It starts the plugin if it is not running; it changes nothing.
func (h *Host) Health(ctx context.Context) Health {
	out := Health{Backend: PluginHealth{Name: h.cfg.Backend}, Problems: []Problem{}}
	h.mu.Lock()
	out.Leases = len(h.leases)
	if h.sess != nil && h.sess.alive() {
		out.Session = &SessionHealth{ID: h.sess.id, TTL: h.sess.ttl}
	}
	h.mu.Unlock()
	g, err := h.backend.get(ctx)
	if err != nil {
		out.Backend.Error = err.Error()
		return out
	}
	out.Backend.Version, out.Backend.Protocol, out.Backend.PID = g.info.Version, g.conn.Protocol(), g.conn.Pid()
	start := time.Now()
	herr := g.backend.Health(ctx)
	out.Backend.RTT = time.Since(start)
	out.Backend.Alive = !g.conn.Exited()
	if herr != nil {
		out.Backend.Error = herr.Error()
	} else {
		out.Backend.Healthy = true
	}
	probs, err := h.Check(ctx, "")
	if err != nil {
		out.CheckError = err.Error()
	} else if probs != nil {
		out.Problems = probs
	}
	out.OK = out.Backend.Healthy && out.CheckError == "" && len(out.Problems) == 0
	return out
}

// Ping asks the backend plugin for its health: one round trip. It starts
// the plugin if it is not running.
func (h *Host) Ping(ctx context.Context) error {
	g, err := h.backend.get(ctx)
	if err != nil {
		return err
	}
	return backendErr("ping backend", g.backend.Health(ctx))
}
