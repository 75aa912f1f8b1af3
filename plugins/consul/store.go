package consul

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/hashicorp/consul/api"
	"github.com/hashicorp/go-cleanhttp"
	"github.com/hashicorp/go-hclog"

	"github.com/locksmithx/locksmith/sdk"
)

// Version is the plugin's version, reported by Info.
const Version = "0.1.0"

// Store is the Consul backend. Create it with New and hand it its config
// with Configure before any other call but Info. All methods are safe for
// concurrent use.
type Store struct {
	log hclog.Logger

	mu sync.RWMutex
	c  *conn
}

// conn is a configured store: one Consul client and what was learnt about
// the agent at Configure.
type conn struct {
	cfg    Config
	api    *api.Client
	keys   keyspace
	log    hclog.Logger
	minTTL time.Duration
	dev    bool
	cache  *snapshots
	gates  *gates
	// flights shares event reads among watchers.
	flights *flights
	client  *http.Transport
}

// Option is an optional setting of New.
type Option func(*Store)

// WithLogger sets the store's logger (default: none).
func WithLogger(l hclog.Logger) Option { return func(s *Store) { s.log = l } }

// New returns an unconfigured store.
func New(opts ...Option) *Store {
	s := &Store{log: hclog.NewNullLogger()}
	for _, o := range opts {
		o(s)
	}
	return s
}

// Info describes the plugin. Before Configure it announces no persistence
// and no warnings; after it, what the agent's mode allows.
func (s *Store) Info(context.Context) (sdk.PluginInfo, error) {
	info := sdk.PluginInfo{
		Name:         "consul",
		Version:      Version,
		Kind:         sdk.KindBackend,
		Capabilities: []string{sdk.CapWatch, sdk.CapDistributed, sdk.CapRepair, sdk.CapAdopt},
		ConfigSchema: ConfigSchema,
	}
	s.mu.RLock()
	c := s.c
	s.mu.RUnlock()
	if c != nil {
		if c.dev {
			info.Warnings = append(info.Warnings, fmt.Sprintf(
				"consul: the agent at %s runs in dev mode: its state lives in memory, so a restart forgets every lock, and revisions (fencing tokens) start again from 1", c.cfg.Address))
		} else {
			info.Capabilities = append(info.Capabilities, sdk.CapPersistent)
		}
	}
	return info, nil
}

// Configure connects to the agent as cfg says and checks that it answers
// and that its cluster has a leader. An unreachable agent gives an error
// with code sdk.CodeUnavailable that names it. Configuring again replaces
// the connection.
func (s *Store) Configure(ctx context.Context, raw sdk.Config) error {
	cfg, err := ParseConfig(raw)
	if err != nil {
		return err
	}
	c, err := dial(ctx, cfg, s.log)
	if err != nil {
		return err
	}
	s.mu.Lock()
	old := s.c
	s.c = c
	s.mu.Unlock()
	if old != nil {
		old.close()
	}
	return nil
}

func dial(ctx context.Context, cfg Config, log hclog.Logger) (*conn, error) {
	tr := cleanhttp.DefaultPooledTransport()
	// Every watcher holds a connection in a blocking query; keep enough
	// idle ones that requests do not dial anew.
	tr.MaxIdleConnsPerHost = 256
	ac := &api.Config{
		Address:    cfg.Address,
		Scheme:     cfg.Scheme,
		Datacenter: cfg.Datacenter,
		Token:      cfg.Token,
		Transport:  tr,
	}
	if t := cfg.TLS; t != nil && t.Enabled {
		ac.TLSConfig = api.TLSConfig{Address: t.ServerName, CAFile: t.CAFile, CertFile: t.CertFile,
			KeyFile: t.KeyFile, InsecureSkipVerify: t.InsecureSkipVerify}
	}
	client, err := api.NewClient(ac)
	if err != nil {
		return nil, sdk.Errorf(sdk.CodeInvalidConfig, "consul: config: %v", err)
	}
	c := &conn{cfg: cfg, api: client, keys: keyspace{prefix: cfg.Prefix, hist: int64(cfg.History)},
		log: log, minTTL: 10 * time.Second, cache: newSnapshots(), gates: newGates(), flights: newFlights(), client: tr}
	if err := c.ping(ctx); err != nil {
		tr.CloseIdleConnections()
		return nil, err
	}
	// The agent's session_ttl_min and mode; a token without agent:read
	// keeps the defaults (10s, not dev).
	self, err := client.Agent().Self()
	if err != nil {
		log.Debug("cannot read the agent's configuration; assuming session_ttl_min 10s", "error", err)
	}
	if dc, ok := self["DebugConfig"]; ok {
		if v, ok := dc["SessionTTLMin"].(string); ok {
			if d, err := time.ParseDuration(v); err == nil && d > 0 {
				c.minTTL = d
			}
		}
		if v, ok := dc["DevMode"].(bool); ok {
			c.dev = v
		}
	}
	return c, nil
}

// ping checks that the agent answers and its cluster has a leader.
func (c *conn) ping(ctx context.Context) error {
	leader, err := c.api.Status().LeaderWithQueryOptions((&api.QueryOptions{}).WithContext(ctx))
	if err != nil {
		return c.fail("connect", err)
	}
	if leader == "" {
		return sdk.Errorf(sdk.CodeUnavailable, "consul: connect: %s has no cluster leader", c.cfg.Address)
	}
	return nil
}

// Health reports whether the agent answers and its cluster has a leader.
func (s *Store) Health(ctx context.Context) error {
	c, err := s.conn()
	if err != nil {
		return err
	}
	return c.ping(ctx)
}

// Close closes the store's idle connections. It does not revoke sessions:
// sdk.ServeBackend does that before it calls Close.
func (s *Store) Close() error {
	s.mu.Lock()
	c := s.c
	s.c = nil
	s.mu.Unlock()
	if c != nil {
		c.close()
	}
	return nil
}

func (c *conn) close() { c.client.CloseIdleConnections() }

func (s *Store) conn() (*conn, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.c == nil {
		return nil, sdk.Errorf(sdk.CodeUnavailable, "consul: store not configured: call Configure first")
	}
	return s.c, nil
}

// fail turns a Consul client error into the contract's errors: the
// caller's context ending stays a context error; an unreachable agent, a
// cluster without a leader or a server error becomes sdk.ErrUnavailable
// naming the agent; a refused token says which variables set it.
func (c *conn) fail(op string, err error) error {
	if err == nil {
		return nil
	}
	var se *sdk.Error
	if errors.As(err, &se) {
		return err
	}
	var ne net.Error
	if !errors.As(err, &ne) && (errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded)) {
		return fmt.Errorf("consul: %s: %w", op, err)
	}
	var st api.StatusError
	if errors.As(err, &st) {
		switch {
		case st.Code == http.StatusForbidden || st.Code == http.StatusUnauthorized:
			return sdk.Errorf(sdk.CodeUnavailable, "consul: %s: %s refused the ACL token: %s (set token, %s or %s)",
				op, c.cfg.Address, st.Body, EnvToken, EnvConsulToken)
		case st.Code >= 500:
			return sdk.Errorf(sdk.CodeUnavailable, "consul: %s: %s: %s", op, c.cfg.Address, st.Body)
		}
		return sdk.Errorf(sdk.CodeUnknown, "consul: %s: %s: %d %s", op, c.cfg.Address, st.Code, st.Body)
	}
	msg := err.Error()
	if strings.Contains(msg, "Permission denied") || strings.Contains(msg, "ACL not found") {
		return sdk.Errorf(sdk.CodeUnavailable, "consul: %s: %s refused the ACL token: %s (set token, %s or %s)",
			op, c.cfg.Address, msg, EnvToken, EnvConsulToken)
	}
	return sdk.Errorf(sdk.CodeUnavailable, "consul: %s: cannot reach %s: %v", op, c.cfg.Address, err)
}

// sleepCtx waits d or until ctx ends.
func sleepCtx(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// Interface guards.
var (
	_ sdk.Backend        = (*Store)(nil)
	_ sdk.Closer         = (*Store)(nil)
	_ sdk.SessionAdopter = (*Store)(nil)
)
