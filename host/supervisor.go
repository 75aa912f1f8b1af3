package host

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/locksmithx/locksmith/internal/pidwatch"
	"github.com/locksmithx/locksmith/sdk"
)

// Restart backoff bounds of a crashed plugin.
const (
	minRestartDelay = 100 * time.Millisecond
	maxRestartDelay = 10 * time.Second
	// stableAfter is how long a plugin must run before its crash count
	// is forgotten.
	stableAfter = 30 * time.Second
	// exitPoll is how often the supervisor checks that its plugin lives
	// where the system cannot tell it by an event; exitRecheck, where it
	// can (a safety net only).
	exitPoll    = 20 * time.Millisecond
	exitRecheck = 5 * time.Second
)

// supervisor runs one backend plugin process, restarts it when it dies (at
// once after a first crash, with backoff after repeated ones), and tells
// the sessions on it that it died: go-plugin does not restart plugins, so
// this is the host's job. A process's life is a generation. When a
// generation ends, the sessions on a backend that can adopt (CapAdopt)
// move to the next one; on any other backend everything granted in the
// generation is lost.
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
	// notBefore holds restarts back after repeated crashes.
	notBefore time.Time
	guards    guardList // process groups the plugin kills if the host dies
	// notify, when set (before the first start), is told of each exit of
	// the plugin and each restart after one.
	notify func(Event)
	// writes counts the writes its processes' coalescers sent in batches.
	writes writeStats
}

// generation is one running plugin process.
type generation struct {
	conn    *sdk.Conn
	backend sdk.Backend
	info    sdk.PluginInfo
	started time.Time
	ready   time.Duration // from launch until configured
	exited  chan struct{} // closed when the process has exited
	writes  *coalescer    // the process's puts and deletes, if it serves Batch
}

// put is backend.Put, coalesced with other callers' writes where the
// plugin serves Batch.
func (g *generation) put(ctx context.Context, req sdk.PutRequest) (sdk.PutResult, error) {
	if g.writes == nil {
		return g.backend.Put(ctx, req)
	}
	return g.writes.put(ctx, req)
}

// delete is backend.Delete, coalesced as put is.
func (g *generation) delete(ctx context.Context, req sdk.DeleteRequest) (sdk.DeleteResult, error) {
	if g.writes == nil {
		return g.backend.Delete(ctx, req)
	}
	return g.writes.delete(ctx, req)
}

// waitExited reports whether the process has exited, waiting up to d (or
// until ctx ends) to know.
func (g *generation) waitExited(ctx context.Context, d time.Duration) bool {
	if g.conn.Exited() {
		return true
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-g.exited:
		return true
	case <-t.C:
		return g.conn.Exited()
	case <-ctx.Done():
		return g.conn.Exited()
	}
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
		wait := time.Until(s.notBefore)
		s.mu.Unlock()

		var g *generation
		err := sleepCtx(ctx, wait)
		if err == nil {
			g, err = s.launch(ctx)
		}
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

// next returns a running generation other than old, waiting for old's exit
// to be noticed and for the restart.
func (s *supervisor) next(ctx context.Context, old *generation) (*generation, error) {
	for {
		select {
		case <-old.exited:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
		g, err := s.get(ctx)
		if err != nil {
			return nil, err
		}
		if g != old {
			return g, nil
		}
	}
}

// sleepCtx waits for d or until ctx ends.
func sleepCtx(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return ctx.Err()
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// launch starts, configures and checks one plugin process.
func (s *supervisor) launch(ctx context.Context) (*generation, error) {
	start := time.Now()
	opts := []sdk.LaunchOpt{sdk.WithHostLogger(s.log)}
	if s.spec.Sum != nil {
		opts = append(opts, sdk.WithChecksum(s.spec.Sum))
	}
	conn, err := sdk.Launch(s.spec.command(), sdk.KindBackend, opts...)
	if err != nil {
		return nil, launchErr("backend", s.spec, err)
	}
	be := conn.Backend()
	// Info after Configure: what a plugin cannot guarantee (its Warnings)
	// often depends on its config and the store it reached.
	err = configErr(s.spec.Name, be.Configure(ctx, s.cfg))
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
	if info.Has(sdk.CapBatch) {
		g.writes = newCoalescer(be, &s.writes)
	}
	s.log.Debug("plugin started", "plugin", s.spec.Name, "path", s.spec.Path, "pid", conn.Pid(), "ready", g.ready)
	return g, nil
}

// launchErr is the error of a plugin that did not start, as one line: a
// program that is not a plugin is ErrPluginBroken, a plugin of another
// kind ErrInvalidConfig.
func launchErr(role string, spec pluginSpec, err error) error {
	switch {
	case errors.Is(err, sdk.ErrChecksum):
		return fmt.Errorf("%w: %s plugin %q: %w", ErrPluginChecksum, role, spec.Name, err)
	case errors.Is(err, sdk.ErrNotPlugin), errors.Is(err, sdk.ErrProtocol):
		return fmt.Errorf("%w: %s plugin %q: %w", ErrPluginBroken, role, spec.Name, err)
	case errors.Is(err, sdk.ErrWrongKind):
		return fmt.Errorf("%w: %s plugin %q: %w", ErrInvalidConfig, role, spec.Name, err)
	}
	return fmt.Errorf("%w: %s plugin %q: %w", ErrBackendUnavailable, role, spec.Name, err)
}

// waitExit returns once conn's process has exited and go-plugin has seen
// it. The exit is an event (a pidfd) where the system has one, so a host
// waiting on a lock is not woken every exitPoll to look; elsewhere it polls.
func waitExit(conn *sdk.Conn) {
	if w, err := pidwatch.Start(conn.Pid()); err == nil {
		// Until go-plugin reaps the process, its pid is the plugin's, so
		// the watch is on the plugin; the recheck covers the rest.
		recheck := time.NewTicker(exitRecheck)
	wait:
		for !conn.Exited() {
			select {
			case <-w.Done():
				break wait
			case <-recheck.C:
			}
		}
		recheck.Stop()
		w.Stop()
	}
	// go-plugin notes the exit when its Wait returns, just after.
	t := time.NewTicker(exitPoll)
	defer t.Stop()
	for !conn.Exited() {
		<-t.C
	}
}

// watch waits for g's process to exit, then reports it and restarts the
// plugin: at once after a first crash, after a growing delay when it keeps
// crashing.
func (s *supervisor) watch(g *generation) {
	waitExit(g.conn)

	s.mu.Lock()
	if s.cur == g {
		s.cur = nil
	}
	close(g.exited)
	if s.closed {
		s.mu.Unlock()
		return
	}
	// The process died on its own: free what its connection still holds
	// (close stops a process it kills itself).
	go g.conn.Kill()
	if time.Since(g.started) > stableAfter {
		s.crashes = 0
	}
	s.crashes++
	var delay time.Duration
	if s.crashes > 1 {
		delay = min(minRestartDelay<<min(s.crashes-2, 10), maxRestartDelay)
	}
	s.notBefore = time.Now().Add(delay)
	s.mu.Unlock()
	exited := time.Now()
	s.note(Event{Kind: EventPluginExited, Plugin: s.spec.Name, Err: fmt.Errorf("plugin %s (pid %d) exited", s.spec.Name, g.conn.Pid())})

	if g.info.Has(sdk.CapAdopt) {
		s.log.Error("plugin exited; restarting it to adopt its sessions", "plugin", s.spec.Name, "restart_in", delay)
	} else {
		s.log.Error("plugin exited; every lock it held is lost", "plugin", s.spec.Name, "restart_in", delay)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second+delay)
	defer cancel()
	if _, err := s.get(ctx); err != nil && err != ErrClosed {
		s.log.Error("plugin restart failed", "plugin", s.spec.Name, "error", err)
	} else if err == nil {
		s.note(Event{Kind: EventPluginRestarted, Plugin: s.spec.Name, Wait: time.Since(exited)})
	}
}

// note tells the host of a plugin event.
func (s *supervisor) note(ev Event) {
	if s.notify != nil {
		s.notify(ev)
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
