package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"slices"
	"strings"

	"github.com/hashicorp/go-hclog"
	"github.com/spf13/cobra"

	"github.com/locksmithx/locksmith/config"
	"github.com/locksmithx/locksmith/host"
)

// Exit codes of the CLI. exec exits with its child's code otherwise.
const (
	exitOK          = 0
	exitFailure     = 1
	exitUsage       = 2  // usage or config errors
	exitUnavailable = 69 // EX_UNAVAILABLE: a plugin that is not one
	exitNotLocked   = 75 // EX_TEMPFAIL: the lock was not obtained
)

// exitError carries an exit code up to main.
type exitError struct {
	code int
	err  error
}

func (e *exitError) Error() string { return e.err.Error() }
func (e *exitError) Unwrap() error { return e.err }

func usageErr(format string, args ...any) error {
	return &exitError{code: exitUsage, err: fmt.Errorf(format, args...)}
}

// globals are the flags every command shares.
type globals struct {
	configFile string
	backend    string
	logLevel   string
	pluginDir  string
	// perRequest: the command's requests go to the backend --backend
	// names when the config runs it (see loadRequestConfig).
	perRequest bool
}

func run(args []string) int {
	var g globals
	root := &cobra.Command{
		Use:           "locksmith",
		Short:         "Locksmith: advisory locks for processes and machines",
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.PersistentFlags().StringVar(&g.configFile, "config", "", "YAML config file")
	root.PersistentFlags().StringVar(&g.backend, "backend", "", "backend plugin (default file)")
	root.PersistentFlags().StringVar(&g.logLevel, "log-level", "", "log level: trace, debug, info, warn, error, off")
	root.PersistentFlags().StringVar(&g.pluginDir, "plugin-dir", "", "directory searched for locksmith-plugin-<name> binaries")
	root.SetFlagErrorFunc(func(_ *cobra.Command, err error) error { return usageErr("%v", err) })

	root.AddCommand(execCommand(&g), statusCommand(&g), treeCommand(&g), topCommand(&g), checkCommand(&g), repairCommand(&g),
		healthCommand(&g), pluginsCommand(&g), versionCommand(), pluginServeCommand(), demoCommand(&g), serveCommand(&g),
		benchCommand(&g), auditCommand(), configCommand(&g))
	root.SetArgs(args)
	err := root.Execute()
	if err == nil {
		return exitOK
	}
	var ee *exitError
	if errors.As(err, &ee) {
		if ee.err != nil && ee.err.Error() != "" {
			fmt.Fprintf(os.Stderr, "locksmith: %s\n", message(ee.err))
		}
		return ee.code
	}
	fmt.Fprintf(os.Stderr, "locksmith: %s\n", message(err))
	if strings.HasPrefix(err.Error(), "unknown command") || strings.Contains(err.Error(), "arg(s)") {
		return exitUsage
	}
	return exitFailure
}

// message is err's text for the terminal: the package prefix of the host's
// sentinel errors ("locksmith: lock lost") is said once, by the caller.
// Only the sentinels' own text is touched, never a path or a cause that
// happens to contain the prefix.
func message(err error) string {
	s := err.Error()
	for _, e := range sentinels {
		t := e.Error()
		s = strings.ReplaceAll(s, t, strings.TrimPrefix(t, "locksmith: "))
	}
	return s
}

// sentinels are the host's errors whose text carries the package prefix.
var sentinels = []error{host.ErrConflict, host.ErrTimeout, host.ErrLost, host.ErrNotHeld, host.ErrDeadlock,
	host.ErrDenied, host.ErrBackendUnavailable, host.ErrInvalidConfig, host.ErrInvalidArgument,
	host.ErrPluginChecksum, host.ErrPluginBroken, host.ErrConditionFailed, host.ErrClosed}

// loadConfig builds the config from --config, the environment and flags.
func (g *globals) loadConfig(overrides map[string]any) (config.Config, error) {
	o := map[string]any{}
	for k, v := range overrides {
		o[k] = v
	}
	if g.backend != "" && !(g.perRequest && g.runsBackend(overrides)) {
		o["backend"] = g.backend
	}
	if g.logLevel != "" {
		o["log.level"] = g.logLevel
	}
	if g.pluginDir != "" {
		o["plugin_dir"] = g.pluginDir
	}
	cfg, err := config.Load(config.Sources{File: g.configFile, Overrides: o})
	if err != nil {
		return cfg, &exitError{code: exitUsage, err: err}
	}
	return cfg, nil
}

// loadRequestConfig is loadConfig for a command whose requests may choose
// their backend (exec, status, tree, check, health, plugins): when the
// config already runs the backend --backend names, the config's default
// stays and requestContext sends the command's requests there. For other
// commands (serve, bench, demo), --backend sets the default, as ever.
func (g *globals) loadRequestConfig(overrides map[string]any) (config.Config, error) {
	g.perRequest = true
	return g.loadConfig(overrides)
}

// runsBackend reports whether the config (without the --backend flag)
// already runs the backend --backend names.
func (g *globals) runsBackend(overrides map[string]any) bool {
	o := map[string]any{}
	for k, v := range overrides {
		o[k] = v
	}
	if g.pluginDir != "" {
		o["plugin_dir"] = g.pluginDir
	}
	cfg, err := config.Load(config.Sources{File: g.configFile, Overrides: o})
	return err == nil && slices.Contains(cfg.Running(), g.backend)
}

// requestContext is ctx choosing the backend --backend names for the
// command's requests (locks, status, tree, check), when it is not the
// config's default. Without --backend, requests go to the default.
func (g *globals) requestContext(ctx context.Context, cfg config.Config) context.Context {
	if g.backend == "" || g.backend == cfg.Backend {
		return ctx
	}
	return host.UsingBackend(ctx, g.backend)
}

// newLogger is the CLI's logger on stderr.
func newLogger(level string) hclog.Logger {
	return hclog.New(&hclog.LoggerOptions{Name: "locksmith", Level: hclog.LevelFromString(level), Output: os.Stderr})
}

// openHost starts a host for cfg. Config and checksum errors exit 2, a
// plugin that is not one 69, and a backend that cannot start failCode.
func openHost(ctx context.Context, cfg config.Config, failCode int) (*host.Host, error) {
	h, err := host.New(ctx, cfg, host.WithLogger(newLogger(cfg.Log.Level)), host.WithBuiltins(builtinNames()...))
	if err != nil {
		return nil, startFailure(err, failCode)
	}
	return h, nil
}
