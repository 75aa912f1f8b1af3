package host

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/locksmithx/locksmith/sdk"
)

// Restart backoff bounds of a crashed plugin.
const (
	minRestartDelay = 100 * time.Millisecond
	maxRestartDelay = 10 * time.Second
	// stableAfter is how long a plugin must run before its crash count
	// is forgotten.
	stableAfter = 30 * time.Second
	// exitPoll is how often the supervisor checks that its plugin lives.
	exitPoll = 20 * time.Millisecond
)

// supervisor runs one backend plugin process, restarts it with backoff when
// it dies, and tells the sessions on it that it died: go-plugin does not
// restart plugins, so this is the host's job. A process's life is a
// generation; everything granted in a generation is lost when it ends.
type supervisor struct {
	spec pluginSpec
	cfg  sdk.Config
	log  hclog.Logger

	mu       sync.Mutex
	cur      *generation
	closed   bool
	crashes  int
	starting chan struct{} // closed when an ongoing start finishes
	lastErr  error
	guards   guardList // process groups the plugin kills if the host dies
}

// generation is one running plugin process.
type generation struct {
	conn    *sdk.Conn
	backend sdk.Backend
	info    sdk.PluginInfo
	started time.Time
	ready   time.Duration // from launch until configured
	exited  chan struct{} // closed when the process has exited
}

func newSupervisor(spec pluginSpec, cfg sdk.Config, log hclog.Logger) *supervisor {
	return &supervisor{spec: spec, cfg: cfg, log: log}
}

// get returns the running generation, starting the plugin if none runs.
// Concurrent callers share one start.
func (s *supervisor) get(ctx context.Context) (*generation, error) {
	for {
		s.mu.Lock()
		if s.closed {
			s.mu.Unlock()
			return nil, ErrClosed
		}
		if s.cur != nil {
			g := s.cur
			s.mu.Unlock()
			return g, nil
		}
		if s.starting != nil {
			wait := s.starting
			s.mu.Unlock()
			select {
			case <-wait:
				s.mu.Lock()
				g, err := s.cur, s.lastErr
				s.mu.Unlock()
				if g != nil {
					return g, nil
				}
				if err != nil {
					return nil, err
				}
				continue
			case <-ctx.Done():
				return nil, ctx.Err()
			}
		}
		s.starting = make(chan struct{})
		s.mu.Unlock()

		g, err := s.launch(ctx)
		s.mu.Lock()
		close(s.starting)
		s.starting = nil
		s.lastErr = err
		if err == nil {
			if s.closed {
				s.mu.Unlock()
				g.conn.Kill()
				return nil, ErrClosed
			}
			s.cur = g
			go s.watch(g)
		}
		s.mu.Unlock()
		return g, err
	}
}

// launch starts, configures and checks one plugin process.
func (s *supervisor) launch(ctx context.Context) (*generation, error) {
	start := time.Now()
	opts := []sdk.LaunchOpt{sdk.WithHostLogger(s.log)}
	if s.spec.Sum != nil {
		opts = append(opts, sdk.WithChecksum(s.spec.Sum))
	}
	conn, err := sdk.Launch(s.spec.command(), sdk.PluginBackend, opts...)
	if err != nil {
		return nil, fmt.Errorf("%w: plugin %q (%s): %v", ErrBackendUnavailable, s.spec.Name, s.spec.Path, err)
	}
	be := conn.Backend()
	if be == nil {
		conn.Kill()
		return nil, fmt.Errorf("%w: plugin %q is not a backend", ErrInvalidConfig, s.spec.Name)
	}
	// Info after Configure: what a plugin cannot guarantee (its Warnings)
	// often depends on its config and the store it reached.
	err = be.Configure(ctx, s.cfg)
	var info sdk.PluginInfo
	if err == nil {
		info, err = be.Info(ctx)
	}
	if err != nil {
		conn.Kill()
		return nil, backendErr(fmt.Sprintf("configure plugin %q", s.spec.Name), err)
	}
	for _, w := range info.Warnings {
		s.log.Warn("plugin cannot guarantee: "+w, "plugin", s.spec.Name)
	}
	s.guards.resend(ctx, conn, s.log)
	g := &generation{conn: conn, backend: be, info: info, started: start,
		ready: time.Since(start), exited: make(chan struct{})}
	s.log.Debug("plugin started", "plugin", s.spec.Name, "path", s.spec.Path, "pid", conn.Pid(), "ready", g.ready)
	return g, nil
}

// watch waits for g's process to exit, then reports it and restarts the
// plugin after a backoff.
func (s *supervisor) watch(g *generation) {
	t := time.NewTicker(exitPoll)
	for !g.conn.Exited() {
		<-t.C
	}
	t.Stop()
	close(g.exited)

	s.mu.Lock()
	if s.cur == g {
		s.cur = nil
	}
	if s.closed {
		s.mu.Unlock()
		return
	}
	if time.Since(g.started) > stableAfter {
		s.crashes = 0
	}
	s.crashes++
	delay := minRestartDelay << min(s.crashes-1, 10)
	delay = min(delay, maxRestartDelay)
	s.mu.Unlock()

	s.log.Error("plugin exited; every lock it held is lost", "plugin", s.spec.Name, "restart_in", delay)
	time.Sleep(delay)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if _, err := s.get(ctx); err != nil && err != ErrClosed {
		s.log.Error("plugin restart failed", "plugin", s.spec.Name, "error", err)
	}
}

// close stops the plugin for good.
func (s *supervisor) close() {
	s.mu.Lock()
	s.closed = true
	g := s.cur
	s.cur = nil
	s.mu.Unlock()
	if g != nil {
		g.conn.Kill()
	}
}
