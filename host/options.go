package host

import (
	"context"

	"github.com/hashicorp/go-hclog"

	"github.com/locksmithx/locksmith/hooks"
)

// Option is an optional setting of New.
type Option func(*options)

type options struct {
	logger   hclog.Logger
	self     string
	builtins []string
	backoff  Backoff
	hooks    []hooks.Hook
}

// WithLogger sets the host's logger; plugins log to named sub-loggers of it.
func WithLogger(l hclog.Logger) Option { return func(o *options) { o.logger = l } }

// WithBuiltins names the plugins the host executable serves itself, behind
// `<executable> plugin serve <name>`. They are the last place a plugin is
// looked for.
func WithBuiltins(names ...string) Option {
	return func(o *options) { o.builtins = append(o.builtins, names...) }
}

// WithExecutable sets the host executable (default os.Executable): plugins
// are looked for beside it, and built-ins are served by it.
func WithExecutable(path string) Option { return func(o *options) { o.self = path } }

// WithBackoff sets how a host polls backends that cannot watch (default:
// exponential from 5 ms to 500 ms with jitter).
func WithBackoff(b Backoff) Option { return func(o *options) { o.backoff = b } }

// LockOption is an optional setting of one lock request.
type LockOption func(*lockOptions)

type lockOptions struct {
	mode      Mode
	noWait    bool
	meta      map[string]string
	onLost    func(error)
	owner     *Owner
	limit     int
	condition func(context.Context, *Lease) (bool, error)
	backend   string
}

// WithMode sets the mode (default Exclusive).
func WithMode(m Mode) LockOption { return func(o *lockOptions) { o.mode = m } }

// NoWait makes the request fail at once with ErrConflict instead of
// waiting when the lock is held.
func NoWait() LockOption { return func(o *lockOptions) { o.noWait = true } }

// WithMeta attaches metadata to the request, visible in Status.
func WithMeta(k, v string) LockOption {
	return func(o *lockOptions) {
		if o.meta == nil {
			o.meta = map[string]string{}
		}
		o.meta[k] = v
	}
}

// OnLost registers fn to be called, once, with the cause if the lease is
// lost (not when it is released).
func OnLost(fn func(error)) LockOption { return func(o *lockOptions) { o.onLost = fn } }

// WithOwner makes the request part of owner o, for deadlock detection
// across the locks o holds and waits for.
func WithOwner(o *Owner) LockOption { return func(lo *lockOptions) { lo.owner = o } }

// WithLimit makes the resource a semaphore of n holders: the request is
// granted only while fewer than n requests are ahead of it, in FIFO order.
// Semaphore requests are usually Shared, so that the limit alone decides.
func WithLimit(n int) LockOption { return func(o *lockOptions) { o.limit = n } }

// WithCondition makes the request conditional: cond runs once the lock is
// held (so it can never observe the resource unlocked); if it returns
// false the lock is released and the request fails with
// ErrConditionFailed; if it returns an error, the lock is released and the
// error returned.
func WithCondition(cond func(ctx context.Context, l *Lease) (bool, error)) LockOption {
	return func(o *lockOptions) { o.condition = cond }
}

// WithBackend takes the lock on the backend called name, one of those the
// host's config runs (backend, backends, the backend migrated from),
// rather than on the default. The lease stays on that backend until it is
// released or migrated. A lock on a named backend is a lock there only:
// it excludes holders on that backend, not holders on another.
func WithBackend(name string) LockOption { return func(o *lockOptions) { o.backend = name } }
