package host

import (
	"context"
	"errors"
	"fmt"
	"os"

	"github.com/locksmithx/locksmith/config"
	"github.com/locksmithx/locksmith/sdk"
)

// configureErr is the error of a plugin that refused its config block: an
// invalid block names its key path (plugins.NAME.config.KEY: …), as the
// plugin named the key.
func configureErr(role, name string, err error) error {
	err = configErr(name, err)
	var e *sdk.Error
	if sdk.CodeOf(err) == sdk.CodeInvalidConfig && errors.As(err, &e) {
		return fmt.Errorf("%w: %s", ErrInvalidConfig, e.Message)
	}
	return backendErr(fmt.Sprintf("configure %s %q", role, name), err)
}

// ValidateConfig checks cfg as New would, and takes no lock: cfg itself,
// then every plugin it uses — the backend and each middleware — is found,
// started, handed its config block to validate, and stopped. It returns
// every problem found, each naming its key path, wrapped in
// ErrInvalidConfig (or the error of a plugin that could not start).
func ValidateConfig(ctx context.Context, cfg config.Config, opts ...Option) error {
	if err := cfg.Validate(); err != nil {
		return fmt.Errorf("%w: %w", ErrInvalidConfig, err)
	}
	var o options
	for _, opt := range opts {
		opt(&o)
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
	inproc := map[string]bool{}
	for _, h := range o.hooks {
		inproc[h.Name()] = true
	}
	var errs []error
	check := func(name string, kind sdk.Kind) {
		spec, err := cat.resolve(name)
		if err != nil {
			errs = append(errs, err)
			return
		}
		launch := []sdk.LaunchOpt{}
		if spec.Sum != nil {
			launch = append(launch, sdk.WithChecksum(spec.Sum))
		}
		conn, err := sdk.Launch(spec.command(), kind, launch...)
		if err != nil {
			errs = append(errs, launchErr(string(kind), spec, err))
			return
		}
		defer conn.Kill()
		var p sdk.Plugin = conn.Backend()
		if kind == sdk.KindMiddleware {
			p = conn.Middleware()
		}
		if err := p.Configure(ctx, sdk.Config(cfg.Plugin(name).Config)); err != nil {
			errs = append(errs, configureErr(string(kind), name, err))
		}
	}
	check(cfg.Backend, sdk.KindBackend)
	for _, name := range cfg.Middleware {
		if !inproc[name] {
			check(name, sdk.KindMiddleware)
		}
	}
	return errors.Join(errs...)
}
