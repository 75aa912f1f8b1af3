package host

import (
	"context"
	"errors"
	"fmt"
	"os"
	"reflect"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/locksmithx/locksmith/config"
	"github.com/locksmithx/locksmith/sdk"
)

// pipeline is what one config runs: its backends, one of them the default,
// and its middleware chain. A Host serves every new request with its
// current pipeline; UpdateConfig builds the next one beside it and swaps.
// A pipeline never changes once built.
type pipeline struct {
	cfg   config.Config
	cat   *catalog
	slots map[string]*backendSlot // by backend name, every one cfg runs
	chain *chain
	// claimed are the draining slots the pipeline runs again, held (see
	// tryHold) so that they cannot stop before the swap.
	claimed []*backendSlot

	// inflight counts the operations running through chain; a replaced
	// chain is stopped once the last of them is done.
	mu       sync.Mutex
	inflight int
	retired  bool
}

// backendSlot is one running backend: its plugin's supervisor and the
// host's session on it. A lease keeps the slot that granted it, so that a
// config swap never moves a held lock: the slot runs until its last lease
// has ended, even when no pipeline names it any more.
type backendSlot struct {
	name string
	seq  uint64 // orders slots of one name: the later was built later
	spec pluginSpec
	pcfg config.Plugin
	ttl  time.Duration
	sup  *supervisor

	opening sync.Mutex // serialises the opening of sessions
	mu      sync.Mutex
	sess    *session
	// pinned counts the requests and leases that use this slot as the
	// default backend of the pipeline they started in; refs counts every
	// request and lease on it (bridges too).
	pinned  int
	refs    int
	retired bool // no pipeline runs it any more: close it when refs is 0
	closed  bool
}

// same reports whether s runs the plugin spec and config that cfg asks
// for name: then a new pipeline keeps s running rather than start another.
func (s *backendSlot) same(spec pluginSpec, cfg config.Config) bool {
	return s.spec.Path == spec.Path && slices.Equal(s.spec.Args, spec.Args) && string(s.spec.Sum) == string(spec.Sum) &&
		reflect.DeepEqual(s.pcfg, cfg.Plugin(s.name)) && s.ttl == cfg.Lease.TTL
}

// session returns the slot's live session, opening one if there is none.
// Opening one holds none of the host's other locks: s.mu is free, so
// requests on other backends and leases ending on this one never wait for
// it.
func (h *Host) sessionOn(ctx context.Context, s *backendSlot) (*session, error) {
	s.opening.Lock()
	defer s.opening.Unlock()
	s.mu.Lock()
	closed, cur := s.closed, s.sess
	s.mu.Unlock()
	if closed {
		return nil, fmt.Errorf("backend %s: %w", s.name, ErrClosed)
	}
	if cur != nil && cur.alive() {
		return cur, nil
	}
	g, err := s.sup.get(ctx)
	if err != nil {
		return nil, err
	}
	hostname, _ := os.Hostname()
	sess, err := openSession(ctx, s.sup, g, s.ttl, map[string]string{"pid": strconv.Itoa(os.Getpid()), "host": hostname}, h.log.Named("session."+s.name), h.renewed)
	if err != nil {
		return nil, err
	}
	s.mu.Lock()
	closed = s.closed
	if !closed {
		s.sess = sess
	}
	s.mu.Unlock()
	if closed {
		_ = sess.close(context.Background())
		return nil, fmt.Errorf("backend %s: %w", s.name, ErrClosed)
	}
	return sess, nil
}

// liveSession returns the slot's session if one is open and alive.
func (s *backendSlot) liveSession() *session {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.sess != nil && s.sess.alive() {
		return s.sess
	}
	return nil
}

// tryHold counts one more request on s, pinned when s is its default
// backend, and reports true; false, counting nothing, if s has stopped.
func (h *Host) tryHold(s *backendSlot, pinned bool) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return false
	}
	s.refs++
	if pinned {
		s.pinned++
	}
	return true
}

// unhold undoes tryHold, and closes s if it is retired and nothing uses it.
func (h *Host) unhold(s *backendSlot, pinned bool) {
	s.mu.Lock()
	s.refs--
	if pinned {
		s.pinned--
	}
	idle := s.retired && s.refs == 0
	s.mu.Unlock()
	if idle {
		h.closeSlot(s)
	}
}

// closeSlot revokes s's session and stops its plugin. It can safely be
// called more than once.
func (h *Host) closeSlot(s *backendSlot) {
	s.mu.Lock()
	if s.closed || !s.retired || s.refs > 0 {
		// Claimed again since it was found idle.
		s.mu.Unlock()
		return
	}
	s.closed = true
	sess := s.sess
	s.sess = nil
	s.mu.Unlock()
	h.mu.Lock()
	delete(h.slots, s)
	h.mu.Unlock()
	if sess != nil && sess.alive() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		if err := sess.close(ctx); err != nil {
			h.log.Warn("revoke session of a retired backend", "backend", s.name, "error", err)
		}
		cancel()
	}
	s.sup.close()
	h.log.Info("backend stopped: no pipeline runs it and no lease is left on it", "backend", s.name)
}

// retire marks s as run by no pipeline: it is closed once nothing uses it.
func (h *Host) retire(s *backendSlot) {
	s.mu.Lock()
	s.retired = true
	idle := s.refs == 0
	s.mu.Unlock()
	if idle {
		h.closeSlot(s)
	}
}

// buildPipeline starts what cfg runs: its backends (keeping the running
// slots whose plugin and config are unchanged) and its middleware chain
// (kept when the middleware and their configs are unchanged). Every
// backend it starts must answer a health check. On error everything it
// started is stopped and the old pipeline is untouched.
func (h *Host) buildPipeline(ctx context.Context, cfg config.Config, old *pipeline) (*pipeline, error) {
	cat := &catalog{cfg: cfg, self: h.self, builtins: h.builtins}
	p := &pipeline{cfg: cfg, cat: cat, slots: map[string]*backendSlot{}}
	var started []*backendSlot
	fail := func(err error) (*pipeline, error) {
		for _, s := range started {
			s.sup.close()
		}
		for _, s := range p.claimed {
			h.unhold(s, false)
		}
		return nil, err
	}
	for _, name := range cfg.Running() {
		spec, err := cat.resolve(name)
		if err != nil {
			return fail(err)
		}
		if old != nil {
			if s := old.slots[name]; s != nil && s.same(spec, cfg) {
				p.slots[name] = s
				continue
			}
			if s := h.claimDraining(name, spec, cfg); s != nil {
				p.slots[name] = s
				p.claimed = append(p.claimed, s)
				continue
			}
		}
		s := &backendSlot{name: name, seq: h.slotSeq.Add(1), spec: spec, pcfg: cfg.Plugin(name), ttl: cfg.Lease.TTL,
			sup: newSupervisor(spec, sdk.Config(cfg.Plugin(name).Config), h.log.Named("plugin."+name))}
		s.sup.notify = h.note
		started = append(started, s)
		g, err := s.sup.get(ctx)
		if err != nil {
			return fail(fmt.Errorf("start backend %s: %w", name, err))
		}
		if err := g.backend.Health(ctx); err != nil {
			return fail(backendErr("check backend "+name, err))
		}
		p.slots[name] = s
	}
	if old != nil && sameChain(old.cfg, cfg) {
		p.chain = old.chain
	} else {
		c, err := startChain(ctx, cat, cfg, h.log, h.hooks...)
		if err != nil {
			return fail(err)
		}
		h.hookEvents(c)
		p.chain = c
	}
	h.mu.Lock()
	for _, s := range started {
		h.slots[s] = struct{}{}
	}
	h.mu.Unlock()
	return p, nil
}

// claimDraining finds a draining slot that runs what cfg asks for name, and
// holds it so that it keeps running; nil if there is none.
func (h *Host) claimDraining(name string, spec pluginSpec, cfg config.Config) *backendSlot {
	h.mu.Lock()
	defer h.mu.Unlock()
	for s := range h.slots {
		if s.name != name || !s.same(spec, cfg) {
			continue
		}
		s.mu.Lock()
		ok := !s.closed
		if ok {
			s.refs++
		}
		s.mu.Unlock()
		if ok {
			return s
		}
	}
	return nil
}

// sameChain reports whether two configs run the same middleware chain.
func sameChain(a, b config.Config) bool {
	if !slices.Equal(a.Middleware, b.Middleware) || a.PluginDir != b.PluginDir {
		return false
	}
	for _, m := range a.Middleware {
		if !reflect.DeepEqual(a.Plugin(m), b.Plugin(m)) {
			return false
		}
	}
	return true
}

// enter counts an operation running through p's chain; leave ends it.
func (p *pipeline) enter() {
	p.mu.Lock()
	p.inflight++
	p.mu.Unlock()
}

func (p *pipeline) leave() {
	p.mu.Lock()
	p.inflight--
	stop := p.retired && p.inflight == 0
	p.mu.Unlock()
	if stop {
		p.chain.close()
	}
}

// retireChain stops p's chain once no operation runs through it, unless
// next keeps it.
func (p *pipeline) retireChain(next *pipeline) {
	if next != nil && next.chain == p.chain {
		return
	}
	p.mu.Lock()
	p.retired = true
	stop := p.inflight == 0
	p.mu.Unlock()
	if stop {
		p.chain.close()
	}
}

// slotNamed returns the pipeline's backend called name.
func (p *pipeline) slotNamed(name string) (*backendSlot, error) {
	s := p.slots[name]
	if s == nil {
		return nil, fmt.Errorf("%w: backend %q is not running (the config runs %s); add it to backends:", ErrInvalidArgument, name, strings.Join(p.cfg.Running(), ", "))
	}
	return s, nil
}

// step is one lock a request takes: on slot, pinned when slot is the
// default backend the request was routed to.
type step struct {
	slot    *backendSlot
	primary bool
	pinned  bool
}

// plan says on which backends a request takes its lock. A request that
// names its backend takes it there alone. Any other takes it on the
// pipeline's default backend and also, so that no resource can be granted
// on two backends at once, on the backend it migrates from and on every
// backend that still has requests or leases routed to it as a former
// default. The locks are taken in the order of their backends' names (the
// same on every host, so two hosts never wait for each other across
// backends), and the lease reports the default backend's fencing token.
// Each step is held (see tryHold) until the caller unholds it.
func (h *Host) plan(ctx context.Context, p *pipeline, named string) ([]step, error) {
	if named == "" {
		named = backendOf(ctx)
	}
	// A pipeline a swap has just replaced may have a backend stopped under
	// it: plan again on the current one.
	for attempt := 0; ; attempt++ {
		steps, err := h.planOn(p, named)
		if err == nil || !errors.Is(err, ErrClosed) || attempt == 3 {
			return steps, err
		}
		p = h.pipe.Load()
	}
}

// planOn plans on p; ErrClosed when one of p's backends has been stopped.
func (h *Host) planOn(p *pipeline, named string) ([]step, error) {
	if named != "" {
		s, err := p.slotNamed(named)
		if err != nil {
			return nil, err
		}
		if !h.tryHold(s, false) {
			return nil, fmt.Errorf("backend %s: %w", named, ErrClosed)
		}
		return []step{{slot: s, primary: true}}, nil
	}
	def := p.slots[p.cfg.Backend]
	steps := []step{{slot: def, primary: true, pinned: true}}
	if p.cfg.MigrateFrom != "" {
		steps = append(steps, step{slot: p.slots[p.cfg.MigrateFrom]})
	}
	for i, st := range steps {
		if !h.tryHold(st.slot, st.pinned) {
			for _, done := range steps[:i] {
				h.unhold(done.slot, done.pinned)
			}
			return nil, fmt.Errorf("backend %s: %w", st.slot.name, ErrClosed)
		}
	}
	h.mu.Lock()
	all := make([]*backendSlot, 0, len(h.slots))
	for s := range h.slots {
		all = append(all, s)
	}
	h.mu.Unlock()
	for _, s := range all {
		if s == def || (p.cfg.MigrateFrom != "" && s == p.slots[p.cfg.MigrateFrom]) {
			continue
		}
		// Whether it drains and the hold are one step, so that it cannot
		// stop in between.
		s.mu.Lock()
		draining := s.pinned > 0 && !s.closed
		if draining {
			s.refs++
		}
		s.mu.Unlock()
		if draining {
			steps = append(steps, step{slot: s})
		}
	}
	sort.Slice(steps, func(i, j int) bool {
		a, b := steps[i].slot, steps[j].slot
		if a.name != b.name {
			return a.name < b.name
		}
		return a.seq < b.seq
	})
	return steps, nil
}

// backendKey carries a backend choice in a context.
type backendKey struct{}

// UsingBackend returns a context whose requests (locks, Status, Tree,
// Check, Repair) go to the backend called name rather than the default.
// WithBackend does the same for one lock request.
func UsingBackend(ctx context.Context, name string) context.Context {
	return context.WithValue(ctx, backendKey{}, name)
}

// BackendOf returns the backend ctx names (UsingBackend), or "".
func BackendOf(ctx context.Context) string { return backendOf(ctx) }

func backendOf(ctx context.Context) string {
	name, _ := ctx.Value(backendKey{}).(string)
	return name
}

// slotFor returns the backend a read (Status, Tree, Check) goes to: the
// one ctx names (UsingBackend), which may be one that only drains, else
// the default.
func (h *Host) slotFor(ctx context.Context) (*backendSlot, error) {
	p := h.pipe.Load()
	if name := backendOf(ctx); name != "" {
		s, err := p.slotNamed(name)
		if err == nil {
			return s, nil
		}
		for _, d := range h.runningSlots() {
			if d.name == name {
				return d, nil
			}
		}
		return nil, err
	}
	return h.defaultSlot(), nil
}

// defaultSlot is the current pipeline's default backend.
func (h *Host) defaultSlot() *backendSlot {
	p := h.pipe.Load()
	return p.slots[p.cfg.Backend]
}

// generationFor returns the running plugin of the backend a read goes to.
func (h *Host) generationFor(ctx context.Context) (*generation, error) {
	s, err := h.slotFor(ctx)
	if err != nil {
		return nil, err
	}
	return s.sup.get(ctx)
}

// runningSlots lists the backends the host runs: the current pipeline's in
// its config's order, then the draining ones.
func (h *Host) runningSlots() []*backendSlot {
	p := h.pipe.Load()
	var out []*backendSlot
	in := map[*backendSlot]bool{}
	for _, name := range p.cfg.Running() {
		out = append(out, p.slots[name])
		in[p.slots[name]] = true
	}
	h.mu.Lock()
	var rest []*backendSlot
	for s := range h.slots {
		if !in[s] {
			rest = append(rest, s)
		}
	}
	h.mu.Unlock()
	sort.Slice(rest, func(i, j int) bool { return rest[i].seq < rest[j].seq })
	return append(out, rest...)
}

// roleOf says what part s plays in the host's current config.
func (h *Host) roleOf(s *backendSlot) string {
	p := h.pipe.Load()
	switch {
	case p.slots[s.name] != s:
		return RoleDraining
	case s.name == p.cfg.Backend:
		return RoleDefault
	case s.name == p.cfg.MigrateFrom:
		return RoleMigratingFrom
	}
	return RoleNamed
}

// leasesOn counts the host's leases that hold a lock on s.
func (h *Host) leasesOn(s *backendSlot) int {
	h.mu.Lock()
	leases := make([]*Lease, 0, len(h.leases))
	for l := range h.leases {
		leases = append(leases, l)
	}
	h.mu.Unlock()
	n := 0
	for _, l := range leases {
		l.mu.Lock()
		on := l.slot == s
		for _, b := range l.bridges {
			on = on || b.slot == s
		}
		l.mu.Unlock()
		if on {
			n++
		}
	}
	return n
}
