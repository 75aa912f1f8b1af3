package host

import (
	"context"
	"strings"
	"time"

	"github.com/locksmithx/locksmith/sdk"
)

// PluginStatus describes one plugin the host knows of.
type PluginStatus struct {
	Name         string        `json:"name"`
	Kind         string        `json:"kind,omitempty"`
	Version      string        `json:"version,omitempty"`
	Source       string        `json:"source,omitempty"`
	Path         string        `json:"path,omitempty"`
	SHA256       string        `json:"sha256,omitempty"`
	Capabilities []string      `json:"capabilities,omitempty"`
	Warnings     []string      `json:"warnings,omitempty"`
	Ready        time.Duration `json:"ready_ns,omitempty"`
	Healthy      bool          `json:"healthy"`
	Health       string        `json:"health"`
	// Active is true for the default backend.
	Active bool `json:"active"`
	// Role is a running backend's part in the host's config (RoleDefault,
	// RoleMigratingFrom, RoleNamed, RoleDraining); empty for a plugin the
	// host does not run as a backend.
	Role string `json:"role,omitempty"`
	// Leases is how many of the host's leases hold a lock on the backend.
	Leases int `json:"leases,omitempty"`

	// Points are the lifecycle points a middleware is called at.
	Points []string `json:"points,omitempty"`
}

// Plugins reports every plugin the host can name — the configured ones and
// the built-ins — with where it was found, its checksum, what it says of
// itself, whether it is healthy, and for a running backend its role and
// how many leases it holds. A backend that a config swap left running for
// its last leases is listed again as draining. Plugins the host does not
// run are started for the check and stopped again.
func (h *Host) Plugins(ctx context.Context) []PluginStatus {
	p := h.pipe.Load()
	var out []PluginStatus
	for _, name := range p.cat.known() {
		out = append(out, h.pluginStatus(ctx, p, name, p.slots[name]))
	}
	for _, s := range h.runningSlots() {
		if p.slots[s.name] != s {
			out = append(out, h.pluginStatus(ctx, p, s.name, s))
		}
	}
	return out
}

func (h *Host) pluginStatus(ctx context.Context, p *pipeline, name string, slot *backendSlot) PluginStatus {
	st := PluginStatus{Name: name}
	spec, err := p.cat.resolve(name)
	if slot != nil {
		spec, err = slot.spec, nil
	}
	if err != nil {
		st.Health = err.Error()
		return st
	}
	st.Source, st.Path = spec.Source, spec.Path
	if spec.Source == SourceBuiltin {
		st.Path = spec.Path + " " + strings.Join(spec.Args, " ")
	}
	if sum, err := fileSHA256(spec.Path); err == nil {
		st.SHA256 = sum
	}
	var plugin sdk.Plugin
	if slot != nil {
		st.Role, st.Leases = h.roleOf(slot), h.leasesOn(slot)
		st.Active = st.Role == RoleDefault
		g, err := slot.sup.get(ctx)
		if err != nil {
			st.Health = err.Error()
			return st
		}
		st.Ready, plugin = g.ready, g.backend
	} else {
		start := time.Now()
		conn, err := sdk.Launch(spec.command(), sdk.KindBackend, sdk.WithHostLogger(h.log.Named("plugin."+name)))
		if err != nil {
			conn, err = sdk.Launch(spec.command(), sdk.KindMiddleware, sdk.WithHostLogger(h.log.Named("plugin."+name)))
		}
		if err != nil {
			st.Health = err.Error()
			return st
		}
		defer conn.Kill()
		st.Ready = time.Since(start)
		if b := conn.Backend(); b != nil {
			plugin = b
		} else {
			plugin = conn.Middleware()
		}
	}
	if slot == nil {
		if err := plugin.Configure(ctx, sdk.Config(p.cfg.Plugin(name).Config)); err != nil {
			st.Health = "configure: " + err.Error()
			if info, err := plugin.Info(ctx); err == nil {
				st.Kind, st.Version, st.Capabilities, st.Points = string(info.Kind), info.Version, info.Capabilities, middlewarePoints(info)
			}
			return st
		}
	}
	info, err := plugin.Info(ctx)
	if err != nil {
		st.Health = err.Error()
		return st
	}
	st.Kind, st.Version, st.Capabilities, st.Warnings = string(info.Kind), info.Version, info.Capabilities, info.Warnings
	st.Points = middlewarePoints(info)
	if err := plugin.Health(ctx); err != nil {
		st.Health = err.Error()
		return st
	}
	st.Healthy, st.Health = true, "ok"
	return st
}
