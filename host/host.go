package host

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/locksmithx/locksmith/config"
	"github.com/locksmithx/locksmith/sdk"
)

// Host is a lock engine bound to one backend plugin. It is safe for
// concurrent use; every method that talks to the backend takes a context.
type Host struct {
	cfg     config.Config
	log     hclog.Logger
	catalog *catalog
	backend *supervisor
	prefix  string // request ids start with it: unique per Host

	backoff Backoff
	chain   *chain
	graph   *waitGraph
	events  eventHub
	metrics metrics

	mu     sync.Mutex
	sess   *session
	leases map[*Lease]struct{}
	closed bool

	reqSeq atomic.Uint64
}

// New validates cfg, finds the backend plugin, starts it and configures it.
// The plugin process runs until Close. A plugin binary that does not match
// its configured sha256 is refused before it runs (ErrPluginChecksum).
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
	cat := &catalog{cfg: cfg, self: o.self, builtins: map[string]bool{}}
	for _, n := range o.builtins {
		cat.builtins[n] = true
	}
	spec, err := cat.resolve(cfg.Backend)
	if err != nil {
		return nil, err
	}
	h := &Host{
		cfg:     cfg,
		log:     o.logger,
		catalog: cat,
		backend: newSupervisor(spec, sdk.Config(cfg.Plugin(cfg.Backend).Config), o.logger.Named("plugin."+cfg.Backend)),
		prefix:  randomID(),
		leases:  map[*Lease]struct{}{},
		backoff: o.backoff,
		graph:   newWaitGraph(),
	}
	if h.backoff == nil {
		h.backoff = defaultBackoff
	}
	h.backend.notify = h.note
	if _, err := h.backend.get(ctx); err != nil {
		h.backend.close()
		return nil, err
	}
	if h.chain, err = startChain(ctx, cat, cfg, o.logger); err != nil {
		h.backend.close()
		return nil, err
	}
	return h, nil
}

// Close releases every lease still held, revokes the session and stops the
// backend plugin. It can safely be called more than once.
func (h *Host) Close() error {
	h.mu.Lock()
	if h.closed {
		h.mu.Unlock()
		return nil
	}
	h.closed = true
	sess := h.sess
	h.sess = nil
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
	if sess != nil && sess.alive() {
		if err := sess.close(ctx); err != nil {
			errs = append(errs, err)
		}
	}
	h.backend.close()
	h.chain.close()
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
	err := h.intercept(ctx, OpAcquire, resource, o.mode, o.meta, func(meta map[string]string) (int64, error) {
		o.meta = meta
		var err error
		if l, err = h.take(ctx, resource, o); err != nil {
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

// take enqueues one request, waits for its grant and returns its lease.
func (h *Host) take(ctx context.Context, resource string, o lockOptions) (*Lease, error) {
	s, err := h.session(ctx)
	if err != nil {
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
		return nil, err
	}
	l := newLease(h, s, resource, key, o.mode, g.createRev, g.modRev, info, o.owner, o.onLost)
	h.mu.Lock()
	if h.closed {
		h.mu.Unlock()
		_ = l.Release(context.Background())
		return nil, ErrClosed
	}
	h.leases[l] = struct{}{}
	h.mu.Unlock()
	return l, nil
}

// session returns the live session, opening one if there is none.
func (h *Host) session(ctx context.Context) (*session, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.closed {
		return nil, ErrClosed
	}
	if h.sess != nil && h.sess.alive() {
		return h.sess, nil
	}
	g, err := h.backend.get(ctx)
	if err != nil {
		return nil, err
	}
	hostname, _ := os.Hostname()
	s, err := openSession(ctx, h.backend, g, h.cfg.Lease.TTL, map[string]string{"pid": strconv.Itoa(os.Getpid()), "host": hostname}, h.log.Named("session"), h.metrics.renewed)
	if err != nil {
		return nil, err
	}
	h.sess = s
	return s, nil
}

// forget stops tracking a lease that ended.
func (h *Host) forget(l *Lease) {
	h.mu.Lock()
	delete(h.leases, l)
	h.mu.Unlock()
}

// BackendName is the name of the backend plugin the host runs.
func (h *Host) BackendName() string { return h.cfg.Backend }

// Held returns the leases this host holds now, ordered by resource. The
// intention locks a hierarchical lease holds on its ancestors are part of
// that lease (its Release releases them), so they are not listed.
func (h *Host) Held() []*Lease { return h.leaves() }

func randomID() string {
	var b [6]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}
