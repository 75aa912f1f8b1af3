package host

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/locksmithx/locksmith/hooks"
	"github.com/locksmithx/locksmith/sdk"
)

// ErrMiddlewareDown is the failure of a call to a middleware plugin whose
// process has exited: the call fails (what that means is the middleware's
// on_error), and the plugin is started again for the calls after it.
var ErrMiddlewareDown = fmt.Errorf("%w: middleware plugin exited", ErrBackendUnavailable)

// middlewareProc is a middleware plugin process the host supervises, seen
// as a hook. The first call that finds the process gone fails and starts
// it again (at once after a first crash, after a growing delay when it
// keeps crashing); the calls after it wait for the new process.
type middlewareProc struct {
	name   string
	spec   pluginSpec
	cfg    sdk.Config
	log    hclog.Logger
	info   sdk.PluginInfo
	points hooks.Set

	mu        sync.Mutex
	conn      *sdk.Conn
	m         sdk.Middleware
	restarted chan struct{} // closed when the restart in flight ends; nil when none runs
	started   time.Time
	crashes   int
	restarts  int
	closed    bool
}

// launchMiddleware starts and configures the middleware plugin name.
func launchMiddleware(ctx context.Context, name string, spec pluginSpec, cfg sdk.Config, log hclog.Logger) (*middlewareProc, error) {
	p := &middlewareProc{name: name, spec: spec, cfg: cfg, log: log}
	conn, m, info, err := p.launch(ctx)
	if err != nil {
		return nil, err
	}
	if p.points, err = hooks.ParsePoints(info.Points); err != nil {
		conn.Kill()
		return nil, fmt.Errorf("%w: middleware %q: %w", ErrInvalidConfig, name, err)
	}
	p.conn, p.m, p.info, p.started = conn, m, info, time.Now()
	return p, nil
}

// launch starts, configures and describes one process of the plugin.
func (p *middlewareProc) launch(ctx context.Context) (*sdk.Conn, sdk.Middleware, sdk.PluginInfo, error) {
	opts := []sdk.LaunchOpt{sdk.WithHostLogger(p.log)}
	if p.spec.Sum != nil {
		opts = append(opts, sdk.WithChecksum(p.spec.Sum))
	}
	conn, err := sdk.Launch(p.spec.command(), sdk.KindMiddleware, opts...)
	if err != nil {
		return nil, nil, sdk.PluginInfo{}, launchErr("middleware", p.spec, err)
	}
	m := conn.Middleware()
	err = m.Configure(ctx, p.cfg)
	var info sdk.PluginInfo
	if err == nil {
		info, err = m.Info(ctx)
	}
	if err != nil {
		conn.Kill()
		return nil, nil, sdk.PluginInfo{}, configureErr("middleware", p.name, err)
	}
	return conn, m, info, nil
}

func (p *middlewareProc) Name() string      { return p.name }
func (p *middlewareProc) Points() hooks.Set { return p.points }

// Intercept calls the live plugin process (see middlewareProc).
func (p *middlewareProc) Intercept(ctx context.Context, in sdk.Interception) (sdk.Verdict, error) {
	m, err := p.live(ctx)
	if err != nil {
		return sdk.Verdict{}, err
	}
	return m.Intercept(ctx, in)
}

// live returns the running process's middleware, waiting for a restart in
// flight; a process found exited fails this call and is restarted.
func (p *middlewareProc) live(ctx context.Context) (sdk.Middleware, error) {
	for {
		p.mu.Lock()
		if p.closed {
			p.mu.Unlock()
			return nil, ErrClosed
		}
		if p.conn != nil && !p.conn.Exited() {
			m := p.m
			p.mu.Unlock()
			return m, nil
		}
		if p.restarted == nil {
			pid := p.conn.Pid()
			p.restartLocked()
			p.mu.Unlock()
			return nil, fmt.Errorf("middleware %q (pid %d): %w; restarting it", p.name, pid, ErrMiddlewareDown)
		}
		wait := p.restarted
		p.mu.Unlock()
		select {
		case <-wait:
		case <-ctx.Done():
			return nil, fmt.Errorf("middleware %q: waiting for its restart: %w", p.name, ctx.Err())
		}
	}
}

// restartLocked starts a new process in the background, after a delay
// that grows while the plugin keeps crashing. p.mu is held.
func (p *middlewareProc) restartLocked() {
	old := p.conn
	go old.Kill()
	if time.Since(p.started) > stableAfter {
		p.crashes = 0
	}
	p.crashes++
	var delay time.Duration
	if p.crashes > 1 {
		delay = min(minRestartDelay<<min(p.crashes-2, 10), maxRestartDelay)
	}
	p.restarted = make(chan struct{})
	p.log.Error("middleware exited; restarting it", "middleware", p.name, "pid", old.Pid(), "restart_in", delay)
	go func(done chan struct{}) {
		defer close(done)
		for attempt := 0; ; attempt++ {
			time.Sleep(delay)
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			conn, m, info, err := p.launch(ctx)
			cancel()
			p.mu.Lock()
			if p.closed {
				p.restarted = nil
				p.mu.Unlock()
				if conn != nil {
					conn.Kill()
				}
				return
			}
			if err == nil {
				p.conn, p.m, p.info, p.started = conn, m, info, time.Now()
				p.restarts++
				p.restarted = nil
				p.mu.Unlock()
				p.log.Info("middleware restarted", "middleware", p.name, "pid", conn.Pid())
				return
			}
			p.mu.Unlock()
			delay = min(max(2*delay, minRestartDelay), maxRestartDelay)
			p.log.Error("middleware restart failed", "middleware", p.name, "attempt", attempt+1, "retry_in", delay, "error", err)
		}
	}(p.restarted)
}

// pid is the plugin's current process id; 0 while none runs.
func (p *middlewareProc) pid() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.conn == nil || p.conn.Exited() {
		return 0
	}
	return p.conn.Pid()
}

// close stops the plugin and any restart in flight. It can safely be
// called more than once.
func (p *middlewareProc) close() {
	p.mu.Lock()
	p.closed = true
	conn := p.conn
	p.mu.Unlock()
	if conn != nil {
		conn.Kill()
	}
}

var _ hooks.Hook = (*middlewareProc)(nil)
