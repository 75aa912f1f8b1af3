package host

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/user"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/locksmithx/locksmith/config"
	"github.com/locksmithx/locksmith/hooks"
	"github.com/locksmithx/locksmith/sdk"
)

// chain is the host's hooks chain: the configured middleware, each a
// supervised plugin process, and the in-process hooks, in one
// hooks.Chain. Every operation passes BEFORE through it in order, then
// the backend, then AFTER in reverse.
type chain struct {
	*hooks.Chain
	procs     []*middlewareProc
	principal string
	pid       int
	hostname  string
	follow    *follower
}

// startChain launches, configures and checks every configured middleware
// and places the in-process hooks: a hook whose name is in the config's
// middleware list runs at that place, the others run first, in the order
// given. A middleware announcing sdk.CapFailClosed is fail-closed whatever
// its on_error says.
func startChain(ctx context.Context, cat *catalog, cfg config.Config, log hclog.Logger, inproc ...hooks.Hook) (*chain, error) {
	hostname, _ := os.Hostname()
	c := &chain{principal: principal(), pid: os.Getpid(), hostname: hostname, Chain: hooks.NewChain(nil)}
	byName := map[string]hooks.Hook{}
	for _, h := range inproc {
		byName[h.Name()] = h
	}
	var links []hooks.Link
	placed := map[string]bool{}
	for _, name := range cfg.Middleware {
		if h, ok := byName[name]; ok {
			placed[name] = true
			links = append(links, hooks.Link{Hook: h, FailOpen: cfg.Plugin(name).OnError == config.FailOpen})
		}
	}
	for _, h := range inproc {
		if !placed[h.Name()] {
			links = append([]hooks.Link{{Hook: h}}, links...)
			placed[h.Name()] = true
		}
	}
	for _, name := range cfg.Middleware {
		if _, ok := byName[name]; ok {
			continue
		}
		spec, err := cat.resolve(name)
		if err != nil {
			c.close()
			return nil, err
		}
		p, err := launchMiddleware(ctx, name, spec, sdk.Config(cfg.Plugin(name).Config), pluginLogger(log, name, cfg.Plugin(name)))
		if err != nil {
			c.close()
			return nil, err
		}
		c.procs = append(c.procs, p)
		failOpen := cfg.Plugin(name).OnError == config.FailOpen
		if failOpen && p.info.Has(sdk.CapFailClosed) {
			log.Warn("middleware is always fail-closed; on_error: fail_open ignored", "middleware", name)
			failOpen = false
		}
		// In config order, among the in-process hooks placed by name.
		link := hooks.Link{Hook: p, FailOpen: failOpen}
		links = insertAt(links, name, cfg.Middleware, link)
	}
	c.Chain = hooks.NewChain(log.Named("hooks"), links...)
	c.follow = newFollower()
	return c, nil
}

// insertAt inserts link (the middleware name) into links so that the
// links named in order keep that order.
func insertAt(links []hooks.Link, name string, order []string, link hooks.Link) []hooks.Link {
	rank := map[string]int{}
	for i, n := range order {
		rank[n] = i + 1
	}
	i := len(links)
	for j, l := range links {
		if r := rank[l.Hook.Name()]; r > rank[name] {
			i = j
			break
		}
	}
	return append(links[:i], append([]hooks.Link{link}, links[i:]...)...)
}

// pluginLogger is the logger of plugin name: a named sub-logger of log,
// at the plugin's own log_level when it has one.
func pluginLogger(log hclog.Logger, name string, pc config.Plugin) hclog.Logger {
	l := log.Named("plugin." + name)
	if pc.LogLevel != "" {
		l = &leveledLogger{Logger: l, level: hclog.LevelFromString(pc.LogLevel)}
	}
	return l
}

type principalKey struct{}

// WithPrincipal returns a context under which the host's operations are
// done on behalf of principal: middleware (RBAC, audit) sees it instead of
// the OS user the host runs as. A server sets it from the bearer token of
// each request.
func WithPrincipal(ctx context.Context, principal string) context.Context {
	return context.WithValue(ctx, principalKey{}, principal)
}

// principalOf is the principal of ctx, or fallback when ctx names none.
func principalOf(ctx context.Context, fallback string) string {
	if p, ok := ctx.Value(principalKey{}).(string); ok && p != "" {
		return p
	}
	return fallback
}

func principal() string {
	if u, err := user.Current(); err == nil {
		return u.Username
	}
	return ""
}

// interception is an operation as the chain sees it, on behalf of ctx's
// principal.
func (c *chain) interception(ctx context.Context, op, resource string) sdk.Interception {
	return sdk.Interception{Op: op, Resource: resource, Principal: principalOf(ctx, c.principal), PID: c.pid, Host: c.hostname}
}

// resultCode names a host error for middleware. An error that wraps
// several host errors is named by what happened to the operation: a
// release of a lost lease is NOT_HELD, not LOST. A backend error the host
// did not classify keeps its own code.
func resultCode(err error) sdk.Code {
	for _, c := range resultCodes {
		if errors.Is(err, c.err) {
			return c.code
		}
	}
	return sdk.CodeOf(err)
}

// resultCodes maps the host's errors to codes, most specific first.
var resultCodes = []struct {
	err  error
	code sdk.Code
}{
	{ErrNotHeld, sdk.CodeNotHeld},
	{ErrLost, sdk.CodeLost},
	{ErrDeadlock, sdk.CodeDeadlock},
	{ErrTimeout, sdk.CodeTimeout},
	{ErrConflict, sdk.CodeConflict},
	{ErrConditionFailed, sdk.CodeConditionFailed},
	{ErrDenied, sdk.CodeDenied},
	{ErrClosed, sdk.CodeClosed},
	{ErrBackendUnavailable, sdk.CodeUnavailable},
	{ErrPluginChecksum, sdk.CodeInvalidConfig},
	{ErrInvalidConfig, sdk.CodeInvalidArgument},
}

// empty reports whether the chain runs nothing (c may be nil).
func (c *chain) empty() bool { return c == nil || c.Chain.Empty() }

// close stops the chain's plugins and what follows resources for it. It
// can safely be called more than once, and on nil.
func (c *chain) close() {
	if c == nil {
		return
	}
	c.follow.close()
	for _, p := range c.procs {
		p.close()
	}
}

// denied is the host's error of an operation the chain refused.
func denied(err error) error {
	var d *hooks.Denial
	if errors.As(err, &d) {
		if d.Err != nil {
			return fmt.Errorf("%w: middleware %q failed (fail_closed): %w", ErrDenied, d.Hook, d.Err)
		}
		return fmt.Errorf("%w by %s: %w", ErrDenied, d.Hook, d)
	}
	return err
}

// intercept runs op through the chain around do: BEFORE may deny it or
// rewrite meta; AFTER sees its result, fencing token and latency.
func (h *Host) intercept(ctx context.Context, op, resource string, mode Mode, meta map[string]string, do func(meta map[string]string) (int64, error)) error {
	p := h.pipe.Load()
	p.enter()
	defer p.leave()
	c := p.chain
	if c.empty() {
		_, err := do(meta)
		return err
	}
	start := time.Now()
	in := c.interception(ctx, op, resource)
	in.Mode, in.Metadata = mode.String(), meta
	out, err := c.Before(ctx, in)
	// AFTER runs even when ctx has ended, as the same principal.
	actx := WithPrincipal(context.Background(), in.Principal)
	if err != nil {
		err = denied(err)
		in.Result, in.ResultCode, in.Latency = err.Error(), resultCode(err), time.Since(start)
		_, _ = c.After(actx, in)
		return err
	}
	in.Metadata = out.Metadata
	token, err := do(out.Metadata)
	in.FencingToken, in.Latency = token, time.Since(start)
	if err != nil {
		in.Result, in.ResultCode = err.Error(), resultCode(err)
	}
	_, _ = c.After(actx, in)
	return err
}

// statusThrough runs a status read through the chain: BEFORE may deny it
// or answer it (a cache), read does it otherwise, and AFTER may transform
// the answer (crypto decrypts metadata).
func (h *Host) statusThrough(ctx context.Context, resource string, read func(context.Context, string) (ResourceStatus, error)) (ResourceStatus, error) {
	p := h.pipe.Load()
	p.enter()
	defer p.leave()
	c := p.chain
	if c.empty() || !c.Wants(hooks.BeforeStatus) && !c.Wants(hooks.AfterStatus) {
		return read(ctx, resource)
	}
	start := time.Now()
	in := c.interception(ctx, sdk.OpStatus, resource)
	out, err := c.Before(ctx, in)
	actx := WithPrincipal(context.Background(), in.Principal)
	if err != nil {
		err = denied(err)
		in.Result, in.ResultCode, in.Latency = err.Error(), resultCode(err), time.Since(start)
		_, _ = c.After(actx, in)
		return ResourceStatus{}, err
	}
	in.Response = out.Answer
	if in.Response == nil {
		st, err := read(ctx, resource)
		if err != nil {
			in.Result, in.ResultCode, in.Latency = err.Error(), resultCode(err), time.Since(start)
			_, _ = c.After(actx, in)
			return ResourceStatus{}, err
		}
		if in.Response, err = json.Marshal(st); err != nil {
			return ResourceStatus{}, fmt.Errorf("status %s: encode for middleware: %w", resource, err)
		}
		c.follow.start(h, c, st.Backend, resource, st.Revision)
	}
	in.Latency = time.Since(start)
	answer, err := c.After(actx, in)
	if err != nil {
		return ResourceStatus{}, fmt.Errorf("status %s: %w", resource, denied(err))
	}
	var st ResourceStatus
	if err := json.Unmarshal(answer, &st); err != nil {
		return ResourceStatus{}, fmt.Errorf("status %s: a middleware's answer does not decode: %w", resource, err)
	}
	if st.Holders == nil {
		st.Holders = []Request{}
	}
	if st.Waiters == nil {
		st.Waiters = []Request{}
	}
	return st, nil
}

// middlewarePoints are the points a middleware's info declares, spelled
// out (every point when it declares none); nil for a backend or when they
// do not parse.
func middlewarePoints(info sdk.PluginInfo) []string {
	if info.Kind != sdk.KindMiddleware {
		return nil
	}
	set, err := hooks.ParsePoints(info.Points)
	if err != nil {
		return info.Points
	}
	return set.Names()
}
