package cache

import (
	"bytes"
	"context"
	"encoding/json"
	"sync"
	"time"

	"github.com/locksmithx/locksmith/hooks"
	"github.com/locksmithx/locksmith/sdk"
)

// Version is the plugin's version.
const Version = "1.0.0"

// Defaults of the config.
const (
	DefaultTTL        = 500 * time.Millisecond
	DefaultMaxEntries = 10000
	maxTTL            = time.Minute
)

// Config is the plugin's config section.
type Config struct {
	// TTL is how long an answer is reused at most (default 500ms, at most
	// 1m); a change of the resource drops it sooner.
	TTL string `json:"ttl"`
	// MaxEntries bounds how many resources are cached (default 10000);
	// past it, the oldest answer is dropped.
	MaxEntries int `json:"max_entries"`
}

type entry struct {
	answer []byte
	rev    int64
	stored time.Time
}

// Middleware is the read cache.
type Middleware struct {
	mu      sync.Mutex
	ttl     time.Duration
	max     int
	entries map[string]entry
	// changed is when each resource was last seen changing, and at which
	// revision: an answer read before that is not stored.
	changed map[string]change
	now     func() time.Time
}

type change struct {
	at  time.Time
	rev int64
}

// New returns a cache with the default settings.
func New() *Middleware {
	return &Middleware{ttl: DefaultTTL, max: DefaultMaxEntries, entries: map[string]entry{}, changed: map[string]change{}, now: time.Now}
}

// Info describes the plugin: status points and the notifications that
// invalidate, never a grant's BEFORE.
func (m *Middleware) Info(context.Context) (sdk.PluginInfo, error) {
	points := hooks.SetOf(hooks.BeforeStatus, hooks.AfterStatus, hooks.AfterAcquire, hooks.AfterConvert,
		hooks.AfterRelease, hooks.OnLost, hooks.OnChange)
	return sdk.PluginInfo{Name: "cache", Version: Version, Kind: sdk.KindMiddleware, Points: points.Names()}, nil
}

// Configure sets the TTL and bound.
func (m *Middleware) Configure(_ context.Context, cfg sdk.Config) error {
	var c Config
	if err := cfg.Decode(&c); err != nil {
		return err
	}
	ttl := DefaultTTL
	if c.TTL != "" {
		d, err := time.ParseDuration(c.TTL)
		if err != nil || d <= 0 || d > maxTTL {
			return sdk.Errorf(sdk.CodeInvalidConfig, "ttl: %q is not a duration between 0 and %s", c.TTL, maxTTL)
		}
		ttl = d
	}
	maxEntries := DefaultMaxEntries
	if c.MaxEntries < 0 {
		return sdk.Errorf(sdk.CodeInvalidConfig, "max_entries: %d is negative", c.MaxEntries)
	}
	if c.MaxEntries > 0 {
		maxEntries = c.MaxEntries
	}
	m.mu.Lock()
	m.ttl, m.max = ttl, maxEntries
	m.mu.Unlock()
	return nil
}

// Health is always ok.
func (m *Middleware) Health(context.Context) error { return nil }

// Intercept answers a status read from a fresh answer, stores answers,
// and drops a resource on every change it hears of.
func (m *Middleware) Intercept(_ context.Context, in sdk.Interception) (sdk.Verdict, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	now := m.now()
	switch {
	case in.Op == sdk.OpStatus && in.Phase == sdk.Before:
		if e, ok := m.entries[in.Resource]; ok && now.Sub(e.stored) < m.ttl {
			return sdk.Verdict{Action: sdk.Respond, Response: e.answer}, nil
		}
		delete(m.entries, in.Resource)
	case in.Op == sdk.OpStatus:
		if in.Result != "" || in.Response == nil {
			break
		}
		if e, ok := m.entries[in.Resource]; ok && bytes.Equal(e.answer, in.Response) {
			break // its own answer: not fresher than it was
		}
		var st struct {
			Revision int64 `json:"revision"`
		}
		if json.Unmarshal(in.Response, &st) != nil {
			break
		}
		c := m.changed[in.Resource]
		// Read before the last change this cache heard of: stale.
		if st.Revision < c.rev || now.Add(-in.Latency).Before(c.at) {
			break
		}
		m.store(in.Resource, entry{answer: in.Response, rev: st.Revision, stored: now})
	case in.Op == sdk.OpChange || in.Op == sdk.OpAcquire || in.Op == sdk.OpConvert || in.Op == sdk.OpRelease || in.Op == sdk.OpLost:
		delete(m.entries, in.Resource)
		c := change{at: now, rev: max(in.Revision, m.changed[in.Resource].rev)}
		if in.Op == sdk.OpChange && in.Revision == 0 {
			// The host no longer follows the resource: changes would go
			// unheard, so nothing of it is cached until it is read again.
			delete(m.changed, in.Resource)
			break
		}
		m.changed[in.Resource] = c
	}
	return sdk.Verdict{}, nil
}

// store caches e, dropping the oldest answer past the bound. m.mu is held.
func (m *Middleware) store(resource string, e entry) {
	if _, ok := m.entries[resource]; !ok && len(m.entries) >= m.max {
		var oldest string
		var at time.Time
		for r, x := range m.entries {
			if oldest == "" || x.stored.Before(at) {
				oldest, at = r, x.stored
			}
		}
		delete(m.entries, oldest)
	}
	m.entries[resource] = e
	if len(m.changed) > 4*m.max {
		// No read runs for a minute: older changes cannot make one stale.
		for r, c := range m.changed {
			if e.stored.Sub(c.at) > time.Minute {
				delete(m.changed, r)
			}
		}
	}
}

var _ sdk.Middleware = (*Middleware)(nil)
