package crypto

import (
	"context"
	"sync"

	"github.com/locksmithx/locksmith/hooks"
	"github.com/locksmithx/locksmith/sdk"
)

// Version is the plugin's version.
const Version = "1.0.0"

// Middleware seals metadata BEFORE acquire and opens it AFTER status.
type Middleware struct {
	mu sync.Mutex
	kr *keyring
}

// New returns an unconfigured crypto middleware; it refuses to work
// until configured with a key.
func New() *Middleware { return &Middleware{} }

// Info describes the plugin: it seals at BeforeAcquire, opens at
// AfterStatus, and is always fail-closed.
func (m *Middleware) Info(context.Context) (sdk.PluginInfo, error) {
	return sdk.PluginInfo{Name: "crypto", Version: Version, Kind: sdk.KindMiddleware,
		Capabilities: []string{sdk.CapFailClosed},
		Points:       hooks.SetOf(hooks.BeforeAcquire, hooks.AfterStatus).Names()}, nil
}

// Configure loads the keys.
func (m *Middleware) Configure(_ context.Context, cfg sdk.Config) error {
	kr, err := loadKeys(cfg)
	if err != nil {
		return err
	}
	m.mu.Lock()
	m.kr = &kr
	m.mu.Unlock()
	return nil
}

// Health reports whether a key is loaded.
func (m *Middleware) Health(context.Context) error {
	if m.keys() == nil {
		return sdk.Errorf(sdk.CodeUnavailable, "no key configured")
	}
	return nil
}

func (m *Middleware) keys() *keyring {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.kr
}

// Intercept seals an acquire's metadata and opens a status answer's.
func (m *Middleware) Intercept(_ context.Context, in sdk.Interception) (sdk.Verdict, error) {
	kr := m.keys()
	if kr == nil {
		return sdk.Verdict{}, sdk.Errorf(sdk.CodeUnavailable, "no key configured")
	}
	switch {
	case in.Phase == sdk.Before && in.Op == sdk.OpAcquire && len(in.Metadata) > 0:
		sealed, err := kr.seal(in.Resource, in.Metadata)
		if err != nil {
			return sdk.Verdict{}, err
		}
		return sdk.Verdict{Metadata: sealed, RewriteMetadata: true}, nil
	case in.Phase == sdk.After && in.Op == sdk.OpStatus && in.Response != nil:
		answer, err := sdk.EditStatusMeta(in.Response, func(meta map[string]string) (map[string]string, error) {
			return kr.open(in.Resource, meta)
		})
		if err != nil {
			return sdk.Verdict{}, sdk.Errorf(sdk.CodeCorrupt, "%v", err)
		}
		return sdk.Verdict{Action: sdk.Respond, Response: answer}, nil
	}
	return sdk.Verdict{}, nil
}

var _ sdk.Middleware = (*Middleware)(nil)
