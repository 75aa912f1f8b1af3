package hooks

import (
	"context"

	"github.com/locksmithx/locksmith/sdk"
)

// Hook is one member of a chain: an in-process Go hook, or a middleware
// plugin adapted by Plugin. Intercept is called only at the points the
// hook declares, and may be called concurrently.
type Hook interface {
	// Name names the hook in errors, logs and the config's middleware
	// list.
	Name() string
	// Points are the points the hook runs at; an empty set is every
	// point.
	Points() Set
	// Intercept sees one operation at one point. In BEFORE it may deny
	// the operation (Deny), rewrite its metadata (RewriteMetadata), or
	// answer a read (Respond); in AFTER it observes the result and may
	// replace a read's answer (Respond). An error is the hook's failure,
	// not a denial: the chain's on_error decides what it means.
	Intercept(ctx context.Context, in sdk.Interception) (sdk.Verdict, error)
}

// Func is the signature of a hook's Intercept.
type Func func(ctx context.Context, in sdk.Interception) (sdk.Verdict, error)

// New returns a Hook named name that runs f at points (every point when
// none is given).
func New(name string, f Func, points ...Point) Hook {
	return funcHook{name: name, f: f, points: SetOf(points...)}
}

type funcHook struct {
	name   string
	f      Func
	points Set
}

func (h funcHook) Name() string { return h.name }
func (h funcHook) Points() Set  { return h.points }
func (h funcHook) Intercept(ctx context.Context, in sdk.Interception) (sdk.Verdict, error) {
	return h.f(ctx, in)
}

// Plugin adapts a middleware plugin to a Hook named name that runs at the
// points the plugin declared (info.Points). An unknown point in them is
// an error: the plugin speaks a newer lifecycle than this host.
func Plugin(name string, m sdk.Middleware, info sdk.PluginInfo) (Hook, error) {
	points, err := ParsePoints(info.Points)
	if err != nil {
		return nil, err
	}
	return pluginHook{name: name, m: m, points: points}, nil
}

type pluginHook struct {
	name   string
	m      sdk.Middleware
	points Set
}

func (h pluginHook) Name() string { return h.name }
func (h pluginHook) Points() Set  { return h.points }
func (h pluginHook) Intercept(ctx context.Context, in sdk.Interception) (sdk.Verdict, error) {
	return h.m.Intercept(ctx, in)
}

// Interface guards.
var (
	_ Hook = funcHook{}
	_ Hook = pluginHook{}
)
