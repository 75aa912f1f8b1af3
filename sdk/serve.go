package sdk

import (
	"log"
	"os"
	"os/signal"
	"runtime"
	"strconv"
	"sync"
	"syscall"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/go-plugin"

	"github.com/locksmithx/locksmith/internal/pidwatch"
)

// ServeOpt is an optional setting of ServeBackend and ServeMiddleware.
type ServeOpt func(*serveConfig)

type serveConfig struct {
	logger      hclog.Logger
	parentCheck time.Duration
	maxProcs    int
}

// MaxProcsEnv overrides, for every plugin a host starts, the number of
// CPUs the plugin's Go runtime uses (see WithMaxProcs).
const MaxProcsEnv = "LOCKSMITH_PLUGIN_GOMAXPROCS"

// LogLevelEnv sets the level of the default logger of a plugin (trace,
// debug, info, warn, error, off; default trace). A host's Launch sets it to
// its own logger's level (see WithHostLogger).
const LogLevelEnv = "LOCKSMITH_PLUGIN_LOG_LEVEL"

// WithLogger sets the plugin's logger. By default the plugin logs JSON to
// stderr, which go-plugin forwards into the host's log under the plugin's
// name.
func WithLogger(l hclog.Logger) ServeOpt { return func(c *serveConfig) { c.logger = l } }

// WithParentCheck sets how often the plugin checks that its host is still
// alive (default 200ms). A plugin whose host is gone revokes its sessions
// and exits.
func WithParentCheck(d time.Duration) ServeOpt { return func(c *serveConfig) { c.parentCheck = d } }

// WithMaxProcs sets how many CPUs the plugin's Go runtime uses (its
// GOMAXPROCS); 0 keeps Go's default (every CPU). The default is 1: a
// plugin spends its time waiting on its host and its store, and one CPU
// spares it the cross-CPU wake-ups of an idle scheduler, which shortens
// the host's round trip to it. LOCKSMITH_PLUGIN_GOMAXPROCS in the
// environment overrides it.
func WithMaxProcs(n int) ServeOpt { return func(c *serveConfig) { c.maxProcs = n } }

// ServeBackend serves impl as a backend plugin and does not return: it is
// meant to be the whole of a plugin's main function. The process exits when
// the host stops it, when the host dies, or on SIGTERM; in each case the
// sessions it opened are revoked and impl is closed if it is a Closer.
// Before the sessions are revoked, every process group the host guards
// (Conn.GuardProcessGroups) is killed, and waited for up to GuardWait.
func ServeBackend(impl Backend, opts ...ServeOpt) {
	guards := newGuardSet()
	srv := newBackendServer(impl, guards)
	p := &backendPlugin{impl: impl, server: srv, guards: guards}
	serve(KindBackend, p, impl, guards, srv.revokeAll, srv.useAnchors, opts)
}

// ServeMiddleware serves impl as a middleware plugin, like ServeBackend.
func ServeMiddleware(impl Middleware, opts ...ServeOpt) {
	guards := newGuardSet()
	serve(KindMiddleware, &middlewarePlugin{impl: impl, guards: guards}, impl, guards, func() {}, nil, opts)
}

// serve runs the plugin. anchors, when set, is given the anchor channel the
// host passed (see anchor.go).
func serve(kind Kind, p plugin.Plugin, impl any, guards *guardSet, drain func(), anchors func(*anchorChannel), opts []ServeOpt) {
	cfg := serveConfig{parentCheck: 200 * time.Millisecond, maxProcs: 1}
	for _, o := range opts {
		o(&cfg)
	}
	if v, err := strconv.Atoi(os.Getenv(MaxProcsEnv)); err == nil && v >= 0 {
		cfg.maxProcs = v
	}
	if cfg.maxProcs > 0 {
		runtime.GOMAXPROCS(cfg.maxProcs)
	}
	if cfg.logger == nil {
		level := hclog.LevelFromString(os.Getenv(LogLevelEnv))
		if level == hclog.NoLevel {
			level = hclog.Trace
		}
		cfg.logger = hclog.New(&hclog.LoggerOptions{
			Level: level, Output: os.Stderr, JSONFormat: true,
		})
	}
	// What libraries print with the standard log package goes through
	// the plugin's logger too, and so to the host's, at the host's level.
	log.SetFlags(0)
	log.SetOutput(cfg.logger.StandardWriter(&hclog.StandardLoggerOptions{InferLevels: true}))
	var once sync.Once
	stop := func(code int) {
		once.Do(func() {
			guards.killAll(GuardWait)
			drain()
			if c, ok := impl.(Closer); ok {
				_ = c.Close()
			}
			os.Exit(code)
		})
	}
	go watchHost(cfg.parentCheck, stop)
	if ch, err := pluginAnchors(); err != nil {
		cfg.logger.Error("no anchor channel; sessions will not survive a crash of this process", "error", err)
	} else if ch != nil && anchors != nil {
		anchors(ch)
	}

	plugin.Serve(&plugin.ServeConfig{
		HandshakeConfig:  handshake,
		VersionedPlugins: servedVersions(kind, p),
		GRPCServer:       plugin.DefaultGRPCServer,
		TLSProvider:      pluginTLS,
		Logger:           cfg.logger,
	})
	stop(0)
}

// parentRecheck is how often a plugin checks its parent where the parent's
// exit is an event.
const parentRecheck = 5 * time.Second

// watchHost calls stop when the host process goes away (the plugin is
// re-parented) or SIGTERM arrives.
func watchHost(every time.Duration, stop func(int)) {
	term := make(chan os.Signal, 1)
	signal.Notify(term, syscall.SIGTERM)
	parent := os.Getppid()
	// Where the parent's exit is an event (a pidfd), the check every
	// interval is only a safety net, and a plugin whose host is idle is
	// idle too.
	var gone <-chan struct{}
	if w, err := pidwatch.Start(parent); err == nil {
		defer w.Stop()
		if os.Getppid() == parent { // the watch is on the parent, not a reused pid
			gone, every = w.Done(), max(every, parentRecheck)
		}
	}
	tick := time.NewTicker(every)
	defer tick.Stop()
	for {
		select {
		case <-term:
			stop(0)
			return
		case <-gone:
			stop(0)
			return
		case <-tick.C:
			if os.Getppid() != parent {
				stop(0)
				return
			}
		}
	}
}

// servedVersions serves p at every protocol version: each later version
// only adds fields, so a host that speaks an older one still works.
func servedVersions(kind Kind, p plugin.Plugin) map[int]plugin.PluginSet {
	out := map[int]plugin.PluginSet{}
	for v := 1; v <= ProtocolVersion; v++ {
		out[v] = plugin.PluginSet{string(kind): p}
	}
	return out
}
