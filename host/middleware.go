package host

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os/user"

	"github.com/hashicorp/go-hclog"

	"github.com/locksmithx/locksmith/config"
	"github.com/locksmithx/locksmith/sdk"
)

// Operations middleware sees.
const (
	OpAcquire = "acquire"
	OpRelease = "release"
	OpConvert = "convert"
	OpStatus  = "status"
)

// chain is the configured middleware, each a plugin process: every
// operation passes BEFORE through it in config order, then the backend,
// then AFTER in reverse order. A middleware can deny in BEFORE, rewrite
// the request's metadata, or answer a read (status) itself.
type chain struct {
	links     []*link
	principal string
	log       hclog.Logger
}

type link struct {
	name     string
	conn     *sdk.Conn
	m        sdk.Middleware
	failOpen bool
}

// startChain launches, configures and checks every configured middleware.
func startChain(ctx context.Context, cat *catalog, cfg config.Config, log hclog.Logger) (*chain, error) {
	c := &chain{principal: principal(), log: log}
	for _, name := range cfg.Middleware {
		spec, err := cat.resolve(name)
		if err != nil {
			c.close()
			return nil, err
		}
		opts := []sdk.LaunchOpt{sdk.WithHostLogger(log.Named("plugin." + name))}
		if spec.Sum != nil {
			opts = append(opts, sdk.WithChecksum(spec.Sum))
		}
		conn, err := sdk.Launch(spec.command(), sdk.KindMiddleware, opts...)
		if err != nil {
			c.close()
			return nil, launchErr("middleware", spec, err)
		}
		m := conn.Middleware()
		if err := configErr(name, m.Configure(ctx, sdk.Config(cfg.Plugin(name).Config))); err != nil {
			conn.Kill()
			c.close()
			return nil, backendErr(fmt.Sprintf("configure middleware %q", name), err)
		}
		c.links = append(c.links, &link{name: name, conn: conn, m: m, failOpen: cfg.Plugin(name).OnError == config.FailOpen})
	}
	return c, nil
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

// before runs the BEFORE phase. It returns the metadata as the chain left
// it, a response if a middleware answered the operation itself, or an
// error wrapping ErrDenied.
func (c *chain) before(ctx context.Context, in sdk.Interception) (map[string]string, []byte, error) {
	in.Phase, in.Principal = sdk.Before, principalOf(ctx, c.principal)
	for _, l := range c.links {
		v, err := l.m.Intercept(ctx, in)
		if err != nil {
			if l.failOpen {
				c.log.Warn("middleware failed; letting the operation through (fail_open)", "middleware", l.name, "op", in.Op, "error", err)
				continue
			}
			return nil, nil, fmt.Errorf("%w: middleware %q failed (fail_closed): %w", ErrDenied, l.name, err)
		}
		switch v.Action {
		case sdk.Deny:
			return nil, nil, fmt.Errorf("%w by %s: %s", ErrDenied, l.name, v.Reason)
		case sdk.Respond:
			if in.Op != OpStatus {
				return nil, nil, fmt.Errorf("%w: middleware %q answered %s, which only reads may be", ErrDenied, l.name, in.Op)
			}
			return in.Metadata, v.Response, nil
		}
		if v.RewriteMetadata {
			in.Metadata = v.Metadata
		}
	}
	return in.Metadata, nil, nil
}

// after runs the AFTER phase, in reverse order. It cannot undo what was
// done; failures are logged.
func (c *chain) after(ctx context.Context, in sdk.Interception, result error) {
	in.Phase, in.Principal = sdk.After, principalOf(ctx, c.principal)
	if result != nil {
		in.Result, in.ResultCode = result.Error(), resultCode(result)
	}
	for i := len(c.links) - 1; i >= 0; i-- {
		l := c.links[i]
		if _, err := l.m.Intercept(ctx, in); err != nil {
			c.log.Warn("middleware failed after the operation", "middleware", l.name, "op", in.Op, "error", err)
		}
	}
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

// empty reports whether there is no middleware (c may be nil).
func (c *chain) empty() bool { return c == nil || len(c.links) == 0 }

func (c *chain) close() {
	if c == nil {
		return
	}
	for _, l := range c.links {
		l.conn.Kill()
	}
}

// intercept runs op through the chain around do: BEFORE may deny it or
// rewrite meta; AFTER sees its result and fencing token.
func (h *Host) intercept(ctx context.Context, op, resource string, mode Mode, meta map[string]string, do func(meta map[string]string) (int64, error)) error {
	if h.chain.empty() {
		_, err := do(meta)
		return err
	}
	in := sdk.Interception{Op: op, Resource: resource, Mode: mode.String(), Metadata: meta}
	meta, _, err := h.chain.before(ctx, in)
	// AFTER runs even when ctx has ended, as the same principal.
	actx := WithPrincipal(context.Background(), principalOf(ctx, h.chain.principal))
	if err != nil {
		h.chain.after(actx, in, err)
		return err
	}
	in.Metadata = meta
	token, err := do(meta)
	in.FencingToken = token
	h.chain.after(actx, in, err)
	return err
}

// statusAnswer runs a status read's BEFORE phase: a middleware (a cache)
// may answer it.
func (h *Host) statusAnswer(ctx context.Context, resource string) (*ResourceStatus, error) {
	if h.chain.empty() {
		return nil, nil
	}
	_, resp, err := h.chain.before(ctx, sdk.Interception{Op: OpStatus, Resource: resource})
	if err != nil || resp == nil {
		return nil, err
	}
	var st ResourceStatus
	if err := json.Unmarshal(resp, &st); err != nil {
		return nil, fmt.Errorf("status %s: a middleware's answer does not decode: %v", resource, err)
	}
	return &st, nil
}
