package audit

import (
	"context"
	"sync"
	"time"

	"github.com/locksmithx/locksmith/hooks"
	"github.com/locksmithx/locksmith/sdk"
)

// Version is the plugin's version.
const Version = "1.0.0"

// Middleware records operations in the audit log.
type Middleware struct {
	mu  sync.Mutex
	s   settings
	log *chainLog
}

// New returns an unconfigured audit middleware.
func New() *Middleware { return &Middleware{} }

// Info describes the plugin; its points follow the configured level.
func (m *Middleware) Info(context.Context) (sdk.PluginInfo, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	points := []hooks.Point{hooks.AfterAcquire, hooks.AfterConvert, hooks.AfterRelease, hooks.AfterRepair, hooks.OnLost}
	if m.s.Level != LevelBasic {
		points = append(points, hooks.AfterStatus, hooks.AfterCheck)
	}
	return sdk.PluginInfo{Name: "audit", Version: Version, Kind: sdk.KindMiddleware, Points: hooks.SetOf(points...).Names()}, nil
}

// Configure opens the log named by the config, continuing its chain.
func (m *Middleware) Configure(_ context.Context, cfg sdk.Config) error {
	s, err := parseConfig(cfg)
	if err != nil {
		return err
	}
	l, err := openLog(s)
	if err != nil {
		return sdk.Errorf(sdk.CodeInvalidConfig, "path: %v", err)
	}
	m.mu.Lock()
	old := m.log
	m.s, m.log = s, l
	m.mu.Unlock()
	if old != nil {
		_ = old.close()
	}
	return nil
}

// Health reports whether the log is open.
func (m *Middleware) Health(context.Context) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.log == nil {
		return sdk.Errorf(sdk.CodeUnavailable, "audit log not configured")
	}
	return nil
}

// Intercept appends one line for an operation's AFTER (or a lost lease).
// A line that cannot be written is an error: the host's on_error decides.
func (m *Middleware) Intercept(_ context.Context, in sdk.Interception) (sdk.Verdict, error) {
	m.mu.Lock()
	l, level := m.log, m.s.Level
	m.mu.Unlock()
	if l == nil {
		return sdk.Verdict{}, sdk.Errorf(sdk.CodeUnavailable, "audit log not configured")
	}
	if in.Phase != sdk.After {
		return sdk.Verdict{}, nil
	}
	r := Record{Time: time.Now().UTC(), Principal: in.Principal, PID: in.PID, Host: in.Host, Op: in.Op,
		Resource: in.Resource, Mode: in.Mode, Token: in.FencingToken, Outcome: "ok", LatencyUS: in.Latency.Microseconds()}
	if in.Result != "" {
		r.Outcome, r.Code, r.Reason = "failed", string(in.ResultCode), in.Result
		if in.ResultCode == sdk.CodeDenied {
			r.Outcome = "denied"
		}
	}
	if level == LevelFull && len(in.Metadata) > 0 {
		r.Meta = in.Metadata
	}
	if err := l.append(r); err != nil {
		return sdk.Verdict{}, sdk.Errorf(sdk.CodeUnavailable, "%v", err)
	}
	return sdk.Verdict{}, nil
}

// Close closes the log.
func (m *Middleware) Close() error {
	m.mu.Lock()
	l := m.log
	m.log = nil
	m.mu.Unlock()
	if l == nil {
		return nil
	}
	return l.close()
}

// Interface guards.
var (
	_ sdk.Middleware = (*Middleware)(nil)
	_ sdk.Closer     = (*Middleware)(nil)
)
