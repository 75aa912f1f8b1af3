package redis

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strings"
	"sync"
	"time"

	"github.com/hashicorp/go-hclog"
	goredis "github.com/redis/go-redis/v9"

	"github.com/locksmithx/locksmith/sdk"
)

// Version is the plugin's version, reported by Info.
const Version = "0.1.0"

// Store is the Redis backend. Create it with New and hand it its config
// with Configure before any other call but Info. All methods are safe for
// concurrent use.
type Store struct {
	log hclog.Logger

	mu sync.RWMutex
	c  *conn
}

// conn is a configured store: one client and what was learnt about the
// servers at Configure.
type conn struct {
	cfg     Config
	rdb     goredis.UniversalClient
	keys    keyspace
	cluster bool
	log     hclog.Logger
	durable durability
	live    *liveSessions
	sweep   *sweeper
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
// and no warnings; after it, what the servers' configuration allows.
func (s *Store) Info(context.Context) (sdk.PluginInfo, error) {
	info := sdk.PluginInfo{
		Name:         "redis",
		Version:      Version,
		Kind:         sdk.KindBackend,
		Capabilities: []string{sdk.CapWatch, sdk.CapDistributed, sdk.CapRepair, sdk.CapAdopt, sdk.CapDeleteRange},
		ConfigSchema: ConfigSchema,
	}
	s.mu.RLock()
	c := s.c
	s.mu.RUnlock()
	if c != nil {
		if c.durable.persistent {
			info.Capabilities = append(info.Capabilities, sdk.CapPersistent)
		}
		info.Warnings = append([]string(nil), c.durable.warnings...)
	}
	return info, nil
}

// Configure connects to Redis as cfg says, checks that it answers, reads
// its persistence settings (see Info's warnings) and starts the sweep of
// expired sessions. An unreachable server gives an error with code
// sdk.CodeUnavailable that names it. Configuring again replaces the
// connection.
func (s *Store) Configure(ctx context.Context, raw sdk.Config) error {
	cfg, err := ParseConfig(raw)
	if err != nil {
		return err
	}
	c, err := dial(ctx, cfg, s.log)
	if err != nil {
		return err
	}
	c.durable = probeDurability(ctx, c)
	// The host logs these as warnings (from Info) and shows them in
	// `locksmith plugins`; here they are only noted.
	for _, w := range c.durable.warnings {
		s.log.Info(w)
	}
	c.sweep = startSweeper(c)
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
	cluster := len(cfg.Addrs) > 1 && cfg.MasterName == ""
	rdb := goredis.NewUniversalClient(cfg.options(cluster))
	c := &conn{cfg: cfg, rdb: rdb, keys: keyspace{prefix: cfg.Prefix}, cluster: cluster, log: log}
	if !cluster && cfg.MasterName == "" {
		info, err := rdb.Info(ctx, "cluster").Result()
		if err != nil {
			_ = rdb.Close()
			return nil, c.fail("connect", err)
		}
		if strings.Contains(info, "cluster_enabled:1") {
			_ = rdb.Close()
			c.cluster = true
			c.rdb = goredis.NewUniversalClient(cfg.options(true))
		}
	}
	if err := c.ping(ctx); err != nil {
		_ = c.rdb.Close()
		if strings.Contains(err.Error(), "cluster support disabled") {
			return nil, sdk.Errorf(sdk.CodeInvalidConfig,
				"redis: config: addrs lists %d servers, which means Redis Cluster, but %s: list one address for a single node, or set master_name for Sentinel",
				len(cfg.Addrs), err)
		}
		return nil, err
	}
	if c.cluster {
		c.live = newLiveSessions()
	}
	return c, nil
}

func (c *conn) ping(ctx context.Context) error {
	if cc, ok := c.rdb.(*goredis.ClusterClient); ok {
		return c.fail("connect", cc.ForEachShard(ctx, func(ctx context.Context, n *goredis.Client) error {
			return n.Ping(ctx).Err()
		}))
	}
	return c.fail("connect", c.rdb.Ping(ctx).Err())
}

// Health reports whether Redis answers PING now.
func (s *Store) Health(ctx context.Context) error {
	c, err := s.conn()
	if err != nil {
		return err
	}
	return c.ping(ctx)
}

// Close stops the sweep and closes the connections. It does not revoke
// sessions: sdk.ServeBackend does that before it calls Close.
func (s *Store) Close() error {
	s.mu.Lock()
	c := s.c
	s.c = nil
	s.mu.Unlock()
	if c != nil {
		return c.close()
	}
	return nil
}

func (c *conn) close() error {
	if c.sweep != nil {
		c.sweep.stop()
	}
	return c.rdb.Close()
}

func (s *Store) conn() (*conn, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.c == nil {
		return nil, sdk.Errorf(sdk.CodeUnavailable, "redis: store not configured: call Configure first")
	}
	return s.c, nil
}

// transient are Redis error replies that mean "not now".
var transient = []string{"LOADING", "MASTERDOWN", "CLUSTERDOWN", "TRYAGAIN", "READONLY", "BUSY", "NOREPLICAS", "MOVED", "ASK"}

// fail turns a go-redis error into the contract's errors: the caller's
// context ending stays a context error; an unreachable or not-ready server
// becomes sdk.ErrUnavailable naming it.
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
		return fmt.Errorf("redis: %s: %w", op, err)
	}
	var re goredis.Error
	if errors.As(err, &re) && !errors.Is(err, goredis.ErrClosed) {
		msg := re.Error()
		for _, p := range transient {
			if strings.HasPrefix(msg, p) {
				return sdk.Errorf(sdk.CodeUnavailable, "redis: %s: %s not ready: %s", op, c.cfg.where(), msg)
			}
		}
		for _, p := range []string{"NOAUTH", "WRONGPASS", "NOPERM"} {
			if strings.HasPrefix(msg, p) {
				return sdk.Errorf(sdk.CodeUnavailable,
					"redis: %s: %s refused the credentials: %s (check username/password or %s/%s)",
					op, c.cfg.where(), msg, EnvUsername, EnvPassword)
			}
		}
		return sdk.Errorf(sdk.CodeUnknown, "redis: %s: %s", op, msg)
	}
	return sdk.Errorf(sdk.CodeUnavailable, "redis: %s: cannot reach %s: %v", op, c.cfg.where(), err)
}

// LogTo sends go-redis's own log lines (reconnects, dial failures), which
// it otherwise prints to stderr, to l at debug level. go-redis has one
// logger per process, so this is for a plugin's main function.
func LogTo(l hclog.Logger) { goredis.SetLogger(redisLog{l}) }

type redisLog struct{ l hclog.Logger }

func (r redisLog) Printf(_ context.Context, format string, v ...any) {
	r.l.Debug(fmt.Sprintf(format, v...))
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
