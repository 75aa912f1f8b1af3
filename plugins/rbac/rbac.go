package rbac

import (
	"context"
	"sync"

	"github.com/locksmithx/locksmith/hooks"
	"github.com/locksmithx/locksmith/sdk"
)

// Version is the plugin's version.
const Version = "1.0.0"

// Middleware enforces the policy BEFORE each operation.
type Middleware struct {
	mu         sync.Mutex
	p          policy
	configured bool
}

// New returns an unconfigured RBAC middleware: it denies everything.
func New() *Middleware { return &Middleware{} }

// Info describes the plugin: BEFORE points only, always fail-closed.
func (m *Middleware) Info(context.Context) (sdk.PluginInfo, error) {
	points := hooks.SetOf(hooks.BeforeAcquire, hooks.BeforeConvert, hooks.BeforeRelease,
		hooks.BeforeStatus, hooks.BeforeCheck, hooks.BeforeRepair)
	return sdk.PluginInfo{Name: "rbac", Version: Version, Kind: sdk.KindMiddleware,
		Capabilities: []string{sdk.CapFailClosed}, Points: points.Names()}, nil
}

// Configure checks and installs the policy.
func (m *Middleware) Configure(_ context.Context, cfg sdk.Config) error {
	p, err := parsePolicy(cfg)
	if err != nil {
		return err
	}
	m.mu.Lock()
	m.p, m.configured = p, true
	m.mu.Unlock()
	return nil
}

// Health is always ok: the policy is in memory.
func (m *Middleware) Health(context.Context) error { return nil }

// Intercept denies what the policy does not allow.
func (m *Middleware) Intercept(_ context.Context, in sdk.Interception) (sdk.Verdict, error) {
	if in.Phase != sdk.Before {
		return sdk.Verdict{}, nil
	}
	m.mu.Lock()
	p, ok := m.p, m.configured
	m.mu.Unlock()
	if !ok {
		return sdk.Verdict{Action: sdk.Deny, Reason: "no policy configured (default deny)"}, nil
	}
	if reason := p.decide(in.Principal, in.Op, in.Resource); reason != "" {
		return sdk.Verdict{Action: sdk.Deny, Reason: reason}, nil
	}
	return sdk.Verdict{}, nil
}

var _ sdk.Middleware = (*Middleware)(nil)
