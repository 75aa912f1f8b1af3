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
	Active       bool          `json:"active"`

	// Points are the lifecycle points a middleware is called at.
	Points []string `json:"points,omitempty"`
}

// Plugins reports every plugin the host can name — the configured ones and
// the built-ins — with where it was found, its checksum, what it says of
// itself and whether it is healthy. Plugins other than the running backend
// are started for the check and stopped again.
func (h *Host) Plugins(ctx context.Context) []PluginStatus {
	var out []PluginStatus
	for _, name := range h.catalog.known() {
		out = append(out, h.pluginStatus(ctx, name))
	}
	return out
}

func (h *Host) pluginStatus(ctx context.Context, name string) PluginStatus {
	st := PluginStatus{Name: name}
	spec, err := h.catalog.resolve(name)
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
	if name == h.cfg.Backend {
		g, err := h.backend.get(ctx)
		if err != nil {
			st.Health = err.Error()
			return st
		}
		st.Active, st.Ready, plugin = true, g.ready, g.backend
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
	if !st.Active {
		if err := plugin.Configure(ctx, sdk.Config(h.cfg.Plugin(name).Config)); err != nil {
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
