package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/spf13/cobra"

	"github.com/locksmithx/locksmith/host"
	"github.com/locksmithx/locksmith/internal/execflags"
	"github.com/locksmithx/locksmith/internal/runcmd"
)

func execCommand(g *globals) *cobra.Command {
	var f execflags.Flags
	c := &cobra.Command{
		Use:   "exec [flags] RESOURCE [--] CMD [ARGS...]",
		Short: "Run a command while holding a lock",
		Long: `Run CMD while holding a lock on RESOURCE (a file, which need not exist; its
lock state lives beside it in RESOURCE.locksmith), in the spirit of flock(1).

The exit status is CMD's; 75 when the lock was not obtained (for a lock
held with --no-wait or still held after --wait: the --conflict-exit-code);
2 for usage or config errors, invalid requests and permanent failures; 69
for a plugin that is not one; 130 or 143 when SIGINT or SIGTERM ends the
wait. CMD gets LOCKSMITH_FENCING_TOKEN, LOCKSMITH_RESOURCE and
LOCKSMITH_MODE.

CMD runs in a process group of its own (the terminal's foreground group,
in a terminal), and no process of it runs once the lock can pass to
another holder: signals are forwarded to the group; what CMD leaves running
is stopped (SIGTERM, then SIGKILL) before the lock is released; a lost lock
sends the group SIGTERM, then SIGKILL well inside the remaining lease; and
if locksmith is killed, its backend plugin kills the group before it ends
the session.

flock(1)'s options work too, so that scripts can swap flock for locksmith
exec: -n/--nonblock, -w/--timeout SECONDS, -s/--shared, -x/--exclusive,
-E/--conflict-exit-code, -c 'shell command', and CMD without --. Options
go before RESOURCE; everything after it is the command.

With LOCKSMITH_SERVER=unix:///PATH, exec asks the ` + "`locksmith serve --agent-socket PATH`" + `
running there for the lock instead of starting a host and a backend plugin
of its own (unless --backend, --plugin-dir or --ttl ask for one): the
server's backend and lease.ttl apply, the connection is the lock's session,
and if exec is killed the server stops its command's group and releases
the lock at once. A server that cannot be reached exits 75.`,
		Args: cobra.ArbitraryArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			resource, argv, err := f.Args(cmd.Flags(), args, cmd.ArgsLenAtDash())
			if err != nil {
				return usageErr("%v", err)
			}
			return runExec(g, &f, resource, argv)
		},
	}
	f.Register(c.Flags(), "exec", true)
	return c
}

func runExec(g *globals, f *execflags.Flags, resource string, argv []string) error {
	mode, err := host.ParseMode(f.Mode)
	if err != nil {
		return usageErr("--mode: %v", err)
	}
	if err := checkLimit(mode, f.Limit); err != nil {
		return usageErr("%v", err)
	}
	opts := []host.LockOption{host.WithMode(mode), host.WithLimit(f.Limit)}
	for k, v := range f.Meta {
		opts = append(opts, host.WithMeta(k, v))
	}
	if f.NoWait {
		opts = append(opts, host.NoWait())
	}
	if f.Named || f.Hierarchical {
		resource, err = host.NamedResource(resource)
	} else {
		resource, err = host.FileResource(resource)
	}
	if err != nil {
		return usageErr("%v", err)
	}
	// A server named by LOCKSMITH_SERVER holds the lock, unless the
	// command line asks for a host of exec's own.
	if sock, err := agentSocket(); err != nil {
		return err
	} else if sock != "" && g.backend == "" && g.pluginDir == "" && f.TTL == 0 {
		return runExecAgent(sock, g, f, mode, resource, argv)
	}
	overrides := map[string]any{}
	if f.TTL != 0 {
		overrides["lease.ttl"] = f.TTL.String()
	}
	cfg, err := g.loadRequestConfig(overrides)
	if err != nil {
		return err
	}

	// Signals that arrive while waiting give the wait up; once the
	// command runs, they are forwarded to its process group.
	sigs := make(chan os.Signal, 8)
	signal.Notify(sigs, syscall.SIGINT, syscall.SIGTERM, syscall.SIGHUP, syscall.SIGQUIT, syscall.SIGUSR1, syscall.SIGUSR2)
	defer signal.Stop(sigs)

	log := newLogger(cfg.Log.Level).Named("exec")
	if err := runcmd.BecomeSubreaper(); err != nil {
		log.Debug("cannot become the subreaper of the command's orphans", "error", err)
	}

	ctx, cancel := context.WithCancel(g.requestContext(context.Background(), cfg))
	defer cancel()
	h, err := openHost(ctx, cfg, exitNotLocked)
	if err != nil {
		return err
	}
	defer h.Close()

	wctx, wcancel := context.WithCancel(ctx)
	if f.Wait > 0 {
		wctx, wcancel = context.WithTimeout(ctx, f.Wait)
	}
	defer wcancel()
	type acquired struct {
		lease *host.Lease
		err   error
	}
	got := make(chan acquired, 1)
	go func() {
		var l *host.Lease
		var err error
		if f.Hierarchical {
			l, err = h.Hierarchical(wctx, resource, opts...)
		} else {
			l, err = h.Acquire(wctx, resource, opts...)
		}
		got <- acquired{l, err}
	}()
	var lease *host.Lease
	select {
	case a := <-got:
		if a.err != nil {
			return notObtained(h, resource, a.err, f.ConflictExit)
		}
		lease = a.lease
	case s := <-sigs:
		// The waiter withdraws at once: its request leaves the queue
		// before exec exits.
		wcancel()
		if a := <-got; a.lease != nil {
			_ = a.lease.Release(context.Background())
		}
		return &exitError{code: 128 + int(s.(syscall.Signal)), err: fmt.Errorf("interrupted by %v while waiting for %s", s, resource)}
	}

	// The group is unguarded after the release, not before: the release
	// is what the next holder waits for, and runLocked has made sure no
	// process of the group is left.
	unguard := func() {}
	guard := func(pgid int) (func(), error) {
		u, err := h.GuardProcessGroup(pgid)
		if err != nil {
			return nil, err
		}
		unguard = u
		return func() {}, nil
	}
	code, err := runcmd.Run(lease, argv, runOptions(mode, cfg.Lease.TTL, guard, sigs, log))
	rerr := lease.Release(context.Background())
	if rerr != nil && err == nil && !errors.Is(rerr, host.ErrNotHeld) {
		fmt.Fprintf(os.Stderr, "locksmith: %s\n", message(rerr))
	}
	unguard()
	if err != nil {
		return &exitError{code: code, err: err}
	}
	return &exitError{code: code}
}

// checkLimit refuses --limit with a mode other than shared: a semaphore's
// holders share it, the limit alone deciding how many.
func checkLimit(mode host.Mode, limit int) error {
	if limit > 0 && mode != host.Shared {
		return fmt.Errorf("--limit makes a semaphore of shared holders; it does not go with --mode %s", mode)
	}
	return nil
}

// runOptions are runcmd's options for exec: warnings go to exec's log,
// errors are worded as the CLI words them.
func runOptions(mode host.Mode, ttl time.Duration, guard func(int) (func(), error), sigs <-chan os.Signal, log hclog.Logger) runcmd.Options {
	return runcmd.Options{
		Mode: mode.String(), TTL: ttl, Guard: guard, Signals: sigs, Describe: message,
		Warn: func(msg string, err error) {
			if err != nil {
				log.Warn(msg, "error", message(err))
				return
			}
			log.Warn(msg)
		},
	}
}
