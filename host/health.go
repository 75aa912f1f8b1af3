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
	OK bool `json:"ok"`
	// Backend is the default backend (or the one the context names, see
	// UsingBackend).
	Backend PluginHealth `json:"backend"`
	// Backends are every backend the host runs, each with its own plugin,
	// session and leases: the config's, and those a config swap left
	// running for the leases still on them.
	Backends []PluginHealth `json:"backends,omitempty"`
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
	Name string `json:"name"`
	// Role is the backend's part in the host's config (see Roles).
	Role     string `json:"role,omitempty"`
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
	// Session is the host's session on the backend, if one is open.
	Session *SessionHealth `json:"session,omitempty"`
	// Leases is how many of the host's leases hold a lock on the backend.
	Leases int `json:"leases"`
}

// The roles a running backend plays.
const (
	RoleDefault       = "default"        // requests that choose no backend go to it
	RoleMigratingFrom = "migrating-from" // requests that choose none also lock it (backend: {from, to})
	RoleNamed         = "named"          // listed in backends: requests that name it
	RoleDraining      = "draining"       // in no config any more: runs until its last lease ends
)

// SessionHealth describes the host's session on its backend.
type SessionHealth struct {
	ID  string        `json:"id"`
	TTL time.Duration `json:"ttl_ns"`
}

// Health reports on the backend plugins (liveness, version, round-trip
// time, session), and the backend's check of every stored resource. It
// starts a plugin that is not running; it changes nothing.
func (h *Host) Health(ctx context.Context) Health {
	out := Health{Problems: []Problem{}}
	h.mu.Lock()
	out.Leases = len(h.leases)
	h.mu.Unlock()
	target, err := h.slotFor(ctx)
	if err != nil {
		out.Backend = PluginHealth{Name: backendOf(ctx), Error: err.Error()}
		return out
	}
	for _, s := range h.runningSlots() {
		ph := h.pluginHealth(ctx, s)
		out.Backends = append(out.Backends, ph)
		if s == target {
			out.Backend = ph
		}
	}
	if !out.Backend.Healthy {
		return out
	}
	probs, err := h.Check(ctx, "")
	if err != nil {
		out.CheckError = err.Error()
	} else if probs != nil {
		out.Problems = probs
	}
	out.OK = out.Backend.Healthy && out.CheckError == "" && len(out.Problems) == 0
	for _, b := range out.Backends {
		out.OK = out.OK && b.Healthy
	}
	return out
}

// pluginHealth reports on one running backend.
func (h *Host) pluginHealth(ctx context.Context, s *backendSlot) PluginHealth {
	out := PluginHealth{Name: s.name, Role: h.roleOf(s), Leases: h.leasesOn(s)}
	if sess := s.liveSession(); sess != nil {
		out.Session = &SessionHealth{ID: sess.id, TTL: sess.ttlNow()}
	}
	g, err := s.sup.get(ctx)
	if err != nil {
		out.Error = err.Error()
		return out
	}
	out.Version, out.Protocol, out.PID = g.info.Version, g.conn.Protocol(), g.conn.Pid()
	start := time.Now()
	herr := g.backend.Health(ctx)
	out.RTT = time.Since(start)
	out.Alive = !g.conn.Exited()
	if herr != nil {
		out.Error = herr.Error()
	} else {
		out.Healthy = true
	}
	return out
}

// Ping asks the default backend's plugin (or the one ctx names, see
// UsingBackend) for its health: one round trip. It starts the plugin if
// it is not running.
func (h *Host) Ping(ctx context.Context) error {
	g, err := h.generationFor(ctx)
	if err != nil {
		return err
	}
	return backendErr("ping backend", g.backend.Health(ctx))
}
