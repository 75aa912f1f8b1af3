package host

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"

	"github.com/locksmithx/locksmith/config"
	"github.com/locksmithx/locksmith/sdk"
)

// PluginReport is what inspecting one plugin found: where the host would
// start it from, what it says of itself, and whatever does not match the
// config. It needs no running host.
type PluginReport struct {
	Name string `json:"name"`
	// Source is where it was found: SourceConfig, SourcePluginDir,
	// SourceBeside or SourceBuiltin; "" when it was not found.
	Source string   `json:"source,omitempty"`
	Path   string   `json:"path,omitempty"`
	Args   []string `json:"args,omitempty"`
	// Role is what the config uses it as: "backend", "middleware" or ""
	// (found, but not used).
	Role string `json:"role,omitempty"`
	// Kind, Version, Protocol, Capabilities and Warnings are what the
	// plugin says of itself; empty when it could not be started.
	Kind         string   `json:"kind,omitempty"`
	Version      string   `json:"version,omitempty"`
	Protocol     int      `json:"protocol,omitempty"`
	Capabilities []string `json:"capabilities,omitempty"`
	Warnings     []string `json:"warnings,omitempty"`
	// SHA256 is the binary's checksum; Expected the configured one ("":
	// none configured).
	SHA256   string `json:"sha256,omitempty"`
	Expected string `json:"expected_sha256,omitempty"`
	// Problems says what does not match the config, or why the plugin
	// could not be inspected. None: it is usable as configured.
	Problems []string `json:"problems,omitempty"`
}

// OK reports whether the plugin matches the config.
func (r PluginReport) OK() bool { return len(r.Problems) == 0 }

// InspectPlugins reports every plugin the host could start under cfg, found
// where the host looks: configured paths, the plugin dir, beside the host
// executable, and the built-ins (WithBuiltins, WithExecutable). Each is
// started, asked for its Info and stopped, except one whose binary does not
// match its configured sha256, which is never run. With configure set, each
// plugin the config uses is also handed its config section, which it
// checks. InspectPlugins starts no backend session and takes no lock.
func InspectPlugins(ctx context.Context, cfg config.Config, configure bool, opts ...Option) []PluginReport {
	c := newCatalog(cfg, opts)
	var out []PluginReport
	for _, name := range c.discover() {
		out = append(out, c.inspect(ctx, name, configure))
	}
	return out
}

// InspectPlugin reports one plugin, as InspectPlugins does.
func InspectPlugin(ctx context.Context, cfg config.Config, name string, configure bool, opts ...Option) PluginReport {
	return newCatalog(cfg, opts).inspect(ctx, name, configure)
}

func newCatalog(cfg config.Config, opts []Option) *catalog {
	var o options
	for _, fn := range opts {
		fn(&o)
	}
	if o.self == "" {
		if exe, err := os.Executable(); err == nil {
			o.self = exe
		}
	}
	c := &catalog{cfg: cfg, self: o.self, builtins: map[string]bool{}}
	for _, n := range o.builtins {
		c.builtins[n] = true
	}
	return c
}

// discover lists the names of every plugin the catalog can name: the
// configured and built-in ones, and every locksmith-plugin-NAME executable
// in the plugin dir and beside the host executable.
func (c *catalog) discover() []string {
	set := map[string]bool{}
	for _, n := range c.known() {
		set[n] = true
	}
	dirs := []string{c.cfg.PluginDir}
	if c.self != "" {
		dirs = append(dirs, filepath.Dir(c.self))
	}
	for _, d := range dirs {
		if d == "" {
			continue
		}
		ents, _ := os.ReadDir(d)
		for _, e := range ents {
			if n, ok := strings.CutPrefix(e.Name(), PluginPrefix); ok && n != "" && isExecutable(filepath.Join(d, e.Name())) {
				set[n] = true
			}
		}
	}
	out := make([]string, 0, len(set))
	for n := range set {
		out = append(out, n)
	}
	sort.Strings(out)
	return out
}

// role says what cfg uses the plugin name as.
func role(cfg config.Config, name string) string {
	switch {
	case cfg.Backend == name:
		return string(sdk.KindBackend)
	case slices.Contains(cfg.Middleware, name):
		return string(sdk.KindMiddleware)
	}
	return ""
}

// inspect finds, checks and asks one plugin.
func (c *catalog) inspect(ctx context.Context, name string, configure bool) PluginReport {
	r := PluginReport{Name: name, Role: role(c.cfg, name)}
	problem := func(format string, args ...any) { r.Problems = append(r.Problems, fmt.Sprintf(format, args...)) }
	spec, err := c.resolve(name)
	if err != nil {
		problem("%v", err)
		return r
	}
	r.Source, r.Path, r.Args = spec.Source, spec.Path, spec.Args
	sum, err := fileSHA256(spec.Path)
	if err != nil {
		problem("read binary: %v", err)
		return r
	}
	r.SHA256 = sum
	var opts []sdk.LaunchOpt
	if spec.Sum != nil {
		r.Expected = hex.EncodeToString(spec.Sum)
		if r.Expected != sum {
			problem("sha256 mismatch: plugins.%s.sha256 is %s, the binary's is %s; not started", name, r.Expected, sum)
			return r
		}
		opts = append(opts, sdk.WithChecksum(spec.Sum))
	}
	kinds := []sdk.Kind{sdk.KindBackend, sdk.KindMiddleware}
	if r.Role == string(sdk.KindMiddleware) {
		kinds = []sdk.Kind{sdk.KindMiddleware, sdk.KindBackend}
	}
	var conn *sdk.Conn
	for _, k := range kinds {
		conn, err = sdk.Launch(spec.command(), k, opts...)
		if !errors.Is(err, sdk.ErrWrongKind) {
			break
		}
	}
	if err != nil {
		problem("%v", err)
		return r
	}
	defer conn.Kill()
	r.Protocol = conn.Protocol()
	var p sdk.Plugin
	if b := conn.Backend(); b != nil {
		p = b
	} else {
		p = conn.Middleware()
	}
	if configure && r.Role != "" {
		if err := configErr(name, p.Configure(ctx, sdk.Config(c.cfg.Plugin(name).Config))); err != nil {
			problem("%v", err)
		}
	}
	info, err := p.Info(ctx)
	if err != nil {
		problem("info: %v", err)
		return r
	}
	r.Kind, r.Version, r.Capabilities, r.Warnings = string(info.Kind), info.Version, info.Capabilities, info.Warnings
	if r.Role != "" && r.Kind != r.Role {
		problem("the config uses it as a %s, but it is a %s plugin", r.Role, r.Kind)
	}
	return r
}
