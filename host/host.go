package host

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/locksmithx/locksmith/config"
	"github.com/locksmithx/locksmith/hooks"
	"github.com/locksmithx/locksmith/sdk"
)

// Host is a lock engine. It runs one or more backend plugins, one of them
// the default, and a middleware chain, as its config says; UpdateConfig
// changes them while it runs. It is safe for concurrent use; every method
// that talks to a backend takes a context.
type Host struct {
	log      hclog.Logger
	self     string
	builtins map[string]bool
	hooks    []hooks.Hook // in-process hooks, part of every pipeline's chain
	prefix   string       // request ids start with it: unique per Host

	backoff Backoff
	graph   *waitGraph
	// watchOnly turns local handoff off: waiters learn of every release
	// from the store's watch (benchmarks compare the two).
	watchOnly bool
	// onWatchEvent, when set (benchmarks only), is called as each watch
	// event reaches a wait, before the wait looks at it.
	onWatchEvent func()
	events       eventHub
	metrics      metrics

	pipe    atomic.Pointer[pipeline] // serves every new request
	swapMu  sync.Mutex               // serialises UpdateConfig
	slotSeq atomic.Uint64

	mu     sync.Mutex
	slots  map[*backendSlot]struct{} // every slot not yet closed
	leases map[*Lease]struct{}
	closed bool

	reqSeq atomic.Uint64
}

// New validates cfg, finds its backend plugins, starts and configures them
// and its middleware. The plugin processes run until Close (or until a
// config swap leaves a backend with no pipeline and no lease). A plugin
// binary that does not match its configured sha256 is refused before it
// runs (ErrPluginChecksum).
func New(ctx context.Context, cfg config.Config, opts ...Option) (*Host, error) {
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrInvalidConfig, err)
	}
	var o options
	for _, opt := range opts {
		opt(&o)
	}
	if o.logger == nil {
		o.logger = hclog.NewNullLogger()
	}
	if o.self == "" {
		if exe, err := os.Executable(); err == nil {
			o.self = exe
		}
	}
	h := &Host{
		log:      o.logger,
		self:     o.self,
		builtins: map[string]bool{},
		hooks:    o.hooks,
		prefix:   randomID(),
		slots:    map[*backendSlot]struct{}{},
		leases:   map[*Lease]struct{}{},
		backoff:  o.backoff,
		graph:    newWaitGraph(),
	}
	for _, n := range o.builtins {
		h.builtins[n] = true
	}
	if h.backoff == nil {
		h.backoff = defaultBackoff
	}
	p, err := h.buildPipeline(ctx, cfg, nil)
	if err != nil {
		return nil, err
	}
	h.pipe.Store(p)
	return h, nil
}

// Close releases every lease still held, revokes the sessions and stops
// the plugins. It can safely be called more than once.
func (h *Host) Close() error {
	h.mu.Lock()
	if h.closed {
		h.mu.Unlock()
		return nil
	}
	h.closed = true
	h.mu.Unlock()

	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	var errs []error
	// Leaves first: releasing a hierarchical lease releases its ancestors
	// after it, and a deeper resource goes before any prefix of it.
	leaves := h.leaves()
	for i := len(leaves) - 1; i >= 0; i-- {
		if err := leaves[i].Release(ctx); err != nil && !errors.Is(err, ErrNotHeld) {
			errs = append(errs, err)
		}
	}
	h.mu.Lock()
	slots := make([]*backendSlot, 0, len(h.slots))
	for s := range h.slots {
		slots = append(slots, s)
	}
	h.mu.Unlock()
	for _, s := range slots {
		s.mu.Lock()
		s.closed = true
		sess := s.sess
		s.sess = nil
		s.mu.Unlock()
		if sess != nil && sess.alive() {
			if err := sess.close(ctx); err != nil {
				errs = append(errs, err)
			}
		}
		s.sup.close()
	}
	h.pipe.Load().chain.close()
	return errors.Join(errs...)
}

// Lock locks the file at path (which need not exist). Its state lives
// beside the file, never inside it. See Acquire for waiting and errors.
func (h *Host) Lock(ctx context.Context, path string, opts ...LockOption) (*Lease, error) {
	r, err := FileResource(path)
	if err != nil {
		return nil, err
	}
	return h.Acquire(ctx, r, opts...)
}

// Named locks a name rather than a file. See Acquire.
func (h *Host) Named(ctx context.Context, name string, opts ...LockOption) (*Lease, error) {
	r, err := NamedResource(name)
	if err != nil {
		return nil, err
	}
	return h.Acquire(ctx, r, opts...)
}

// TryLock is Lock with NoWait: it never waits, and fails with ErrConflict
// when the file is locked incompatibly.
func (h *Host) TryLock(ctx context.Context, path string, opts ...LockOption) (*Lease, error) {
	return h.Lock(ctx, path, append(opts, NoWait())...)
}

// Acquire takes a lock on resource, an already normalised key (see
// FileResource and NamedResource), waiting in FIFO order until it is
// granted. It returns ErrConflict at once with NoWait; ErrTimeout when
// ctx's deadline passes first (ctx's error if ctx is cancelled);
// ErrDeadlock when waiting would close a wait-for cycle among this host's
// owners; ErrBackendUnavailable when the backend cannot be reached;
// ErrConditionFailed when a WithCondition condition is false. On every
// error the request leaves the queue: nothing is left held.
func (h *Host) Acquire(ctx context.Context, resource string, opts ...LockOption) (*Lease, error) {
	o := lockOptions{mode: Exclusive}
	for _, opt := range opts {
		opt(&o)
	}
	if !o.mode.valid() {
		return nil, fmt.Errorf("%w: lock mode %d", ErrInvalidConfig, o.mode)
	}
	if o.limit < 0 {
		return nil, fmt.Errorf("%w: semaphore limit %d is negative", ErrInvalidConfig, o.limit)
	}
	if o.owner == nil {
		o.owner = NewOwner("")
	}
	start := time.Now()
	var l *Lease
	err := h.intercept(ctx, sdk.OpAcquire, resource, o.mode, o.meta, func(meta map[string]string) (int64, error) {
		o.meta = meta
		steps, err := h.plan(ctx, h.pipe.Load(), o.backend)
		if err != nil {
			return 0, err
		}
		if l, err = h.take(ctx, resource, o, steps); err != nil {
			return 0, err
		}
		return l.token, nil
	})
	if err != nil {
		h.note(Event{Kind: EventFailed, Resource: resource, Mode: o.mode, Wait: time.Since(start), Err: err})
		return nil, err
	}
	h.note(Event{Kind: EventAcquired, Resource: resource, Mode: o.mode, Token: l.token, Wait: time.Since(start)})
	if o.condition != nil {
		ok, err := o.condition(ctx, l)
		if err != nil || !ok {
			_ = l.Release(context.Background())
			if err == nil {
				err = fmt.Errorf("lock %s: %w", resource, ErrConditionFailed)
			}
			return nil, err
		}
	}
	return l, nil
}

// take takes the lock on each step's backend in turn and returns the
// primary step's lease, which holds the others as its bridges. On error
// what was taken is released. Every step is unheld when its lock ends, or
// at once if it was not granted.
func (h *Host) take(ctx context.Context, resource string, o lockOptions, steps []step) (*Lease, error) {
	var (
		primary *Lease
		bridges []*Lease
	)
	for i, st := range steps {
		l, err := h.takeOn(ctx, st, resource, o)
		if err != nil {
			for _, rest := range steps[i+1:] {
				h.unhold(rest.slot, rest.pinned)
			}
			if primary != nil {
				_ = primary.release(context.Background())
			}
			_ = releaseAll(bridges)
			if len(steps) > 1 {
				err = fmt.Errorf("%w (on backend %s)", err, st.slot.name)
			}
			return nil, err
		}
		if st.primary {
			primary = l
		} else {
			bridges = append(bridges, l)
		}
	}
	if len(bridges) > 0 {
		primary.bridge(bridges)
	}
	h.mu.Lock()
	if h.closed {
		h.mu.Unlock()
		_ = primary.releaseAll(context.Background())
		return nil, ErrClosed
	}
	h.leases[primary] = struct{}{}
	h.mu.Unlock()
	return primary, nil
}

// takeOn enqueues one request on st's backend, waits for its grant and
// returns its lease, not yet tracked by the host. st is unheld when the
// lease ends, or at once on error.
func (h *Host) takeOn(ctx context.Context, st step, resource string, o lockOptions) (*Lease, error) {
	s, err := h.sessionOn(ctx, st.slot)
	if err != nil {
		h.unhold(st.slot, st.pinned)
		return nil, err
	}
	key := s.id + "/" + h.prefix + "-" + strconv.FormatUint(h.reqSeq.Add(1), 10)
	hostname, _ := os.Hostname()
	info := requestInfo{Mode: o.mode.String(), Limit: o.limit, PID: os.Getpid(), Host: hostname,
		Created: time.Now().UnixNano(), Meta: o.meta}
	h.graph.own(key, o.owner)
	g, err := h.acquire(ctx, s, resource, key, info, o)
	if err != nil {
		h.graph.disown(key)
		h.unhold(st.slot, st.pinned)
		return nil, err
	}
	l := newLease(h, s, resource, key, o.mode, g.createRev, g.modRev, info, o.owner, o.onLost)
	l.mu.Lock()
	// The lease unholds whichever backend it is on when it ends (Migrate
	// moves it): see Lease.unholdLocked.
	l.slot, l.pinned = st.slot, st.pinned
	ended := l.ctx.Err() != nil
	l.mu.Unlock()
	if ended {
		// Lost before its slot was set: nothing unheld it yet.
		l.mu.Lock()
		l.unholdLocked()
		l.mu.Unlock()
	}
	return l, nil
}

// forget stops tracking a lease that ended.
func (h *Host) forget(l *Lease) {
	h.mu.Lock()
	delete(h.leases, l)
	h.mu.Unlock()
}

// BackendName is the name of the default backend: the one a request goes
// to when it does not choose one.
func (h *Host) BackendName() string { return h.pipe.Load().cfg.Backend }

// Backends names every backend the host runs: its config's, the default
// first, then those a config change left running for the leases still on
// them (draining).
func (h *Host) Backends() []string {
	var out []string
	for _, s := range h.runningSlots() {
		if !slices.Contains(out, s.name) {
			out = append(out, s.name)
		}
	}
	return out
}

// Held returns the leases this host holds now, ordered by resource. The
// intention locks a hierarchical lease holds on its ancestors are part of
// that lease (its Release releases them), so they are not listed.
func (h *Host) Held() []*Lease { return h.leaves() }

func randomID() string {
	var b [6]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}
