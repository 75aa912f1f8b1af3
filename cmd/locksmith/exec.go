package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/spf13/cobra"

	"github.com/locksmithx/locksmith/host"
	"github.com/locksmithx/locksmith/internal/runcmd"
)

type execFlags struct {
	mode         string
	wait         time.Duration
	noWait       bool
	conflictExit int
	ttl          time.Duration
	meta         []string
	named        bool
	hierarchical bool
	limit        int
	modeSet      bool

	// flock(1)'s spellings.
	timeout   float64 // -w/--timeout SECONDS
	shared    bool    // -s/--shared
	exclusive bool    // -x/-e/--exclusive
	command   string  // -c 'shell command'
}

func execCommand(g *globals) *cobra.Command {
	var f execFlags
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
			fl := cmd.Flags()
			dash := cmd.ArgsLenAtDash()
			// Options end at RESOURCE, so a "--" after it is still in args.
			// Options between RESOURCE and a "--" (exec R --no-wait -- CMD)
			// are still exec's own, as they always were.
			if dash < 0 && len(args) > 1 {
				if k := slices.Index(args[1:], "--") + 1; k > 0 && allOptions(args[1:k]) {
					if err := fl.Parse(args[1:k]); err != nil {
						return usageErr("%v", err)
					}
					args = append(args[:1:1], args[k+1:]...)
					dash = 1
				}
			}
			f.modeSet = fl.Changed("mode")
			if err := f.flockSpellings(fl.Changed("timeout"), fl.Changed("wait")); err != nil {
				return err
			}
			// flock(1) puts -c after the file: exec RESOURCE -c 'command'.
			if dash < 0 && len(args) > 1 && (args[1] == "-c" || args[1] == "--command") {
				if len(args) != 3 {
					return usageErr("-c takes exactly one shell command, quoted: exec [flags] RESOURCE -c 'command'")
				}
				if f.command != "" {
					return usageErr("-c given twice")
				}
				f.command, args = args[2], args[:1]
			}
			if f.command != "" {
				if len(args) != 1 || dash >= 0 {
					return usageErr("-c takes the whole command: exec [flags] RESOURCE -c 'shell command'")
				}
				args = append(args, "/bin/sh", "-c", f.command)
				dash = 1
			}
			return runExec(g, &f, dash, args)
		},
	}
	// As flock(1): options before RESOURCE, the command's own after it.
	c.Flags().SetInterspersed(false)
	fl := c.Flags()
	fl.StringVar(&f.mode, "mode", "exclusive", "lock mode: shared, exclusive, read, write, update")
	fl.DurationVar(&f.wait, "wait", 0, "give up after waiting this long (default: wait until obtained)")
	fl.BoolVarP(&f.noWait, "no-wait", "n", false, "fail at once if the lock is held")
	fl.BoolVar(&f.noWait, "nonblock", false, "the same as --no-wait (flock(1))")
	fl.Float64VarP(&f.timeout, "timeout", "w", 0, "give up after waiting this many seconds (flock(1); 0: do not wait)")
	fl.BoolVarP(&f.shared, "shared", "s", false, "shared lock: --mode shared (flock(1))")
	fl.BoolVarP(&f.exclusive, "exclusive", "x", false, "exclusive lock: --mode exclusive, the default (flock(1); also -e)")
	fl.BoolVarP(&f.exclusive, "exclusive-e", "e", false, "the same as -x")
	_ = fl.MarkHidden("exclusive-e")
	fl.StringVarP(&f.command, "command", "c", "", "run this shell command with /bin/sh -c (flock(1))")
	fl.IntVarP(&f.conflictExit, "conflict-exit-code", "E", exitNotLocked, "exit code when the lock is not obtained")
	fl.DurationVar(&f.ttl, "ttl", 0, "lease TTL (default: lease.ttl, 15s)")
	fl.StringArrayVar(&f.meta, "meta", nil, "metadata k=v shown in status (repeatable)")
	fl.BoolVar(&f.named, "named", false, "RESOURCE is a lock name, not a file")
	fl.BoolVar(&f.hierarchical, "hierarchical", false, "RESOURCE is a lock name whose /-separated parts form a hierarchy")
	fl.IntVar(&f.limit, "limit", 0, "semaphore: at most N holders at once (mode shared)")
	return c
}

// allOptions reports whether every argument looks like an option (or an
// option's value: the word after one that takes a value).
func allOptions(args []string) bool {
	for i := 0; i < len(args); i++ {
		a := args[i]
		if !strings.HasPrefix(a, "-") {
			return false
		}
		if !strings.Contains(a, "=") && takesValue(a) {
			i++ // its value
		}
	}
	return true
}

// takesValue reports whether the exec option a is followed by its value.
func takesValue(a string) bool {
	switch strings.TrimLeft(a, "-") {
	case "mode", "wait", "conflict-exit-code", "E", "ttl", "meta", "limit", "timeout", "w", "command", "c":
		return true
	}
	return false
}

// flockSpellings folds flock(1)'s options into exec's own, refusing
// combinations that contradict each other.
func (f *execFlags) flockSpellings(timeoutSet, waitSet bool) error {
	if f.shared && f.exclusive {
		return usageErr("-s/--shared and -x/--exclusive exclude each other")
	}
	if f.shared || f.exclusive {
		want := "shared"
		if f.exclusive {
			want = "exclusive"
		}
		if f.modeSet && f.mode != want {
			return usageErr("--mode %s contradicts --%s", f.mode, want)
		}
		f.mode, f.modeSet = want, true
	}
	if timeoutSet {
		switch {
		case waitSet:
			return usageErr("-w/--timeout and --wait say the same thing: give one")
		case f.timeout < 0 || f.timeout > 1e9:
			return usageErr("-w/--timeout wants seconds, 0 or more, got %v", f.timeout)
		case f.timeout == 0:
			// flock(1): a zero timeout does not wait.
			f.noWait = true
		default:
			f.wait = time.Duration(f.timeout * float64(time.Second))
		}
	}
	return nil
}

func runExec(g *globals, f *execFlags, dash int, args []string) error {
	if dash < 0 {
		if len(args) < 2 {
			return usageErr("exec needs RESOURCE -- CMD [ARGS...]")
		}
		dash = 1
	}
	if dash != 1 {
		return usageErr("exec takes one RESOURCE before --, got %d: %q", dash, args[:dash])
	}
	if len(args) < 2 {
		return usageErr("exec needs a command after --")
	}
	resource, argv := args[0], args[1:]
	mode, err := host.ParseMode(f.mode)
	if err != nil {
		return usageErr("--mode: %v", err)
	}
	if f.noWait && f.wait > 0 {
		return usageErr("--wait and --no-wait exclude each other")
	}
	if f.wait < 0 {
		return usageErr("--wait must not be negative")
	}
	if f.limit < 0 {
		return usageErr("--limit must be at least 1")
	}
	if f.limit > 0 {
		if !f.modeSet {
			mode = host.Shared
		} else if mode != host.Shared {
			return usageErr("--limit makes a semaphore of shared holders; it does not go with --mode %s", mode)
		}
	}
	if f.named && f.hierarchical {
		return usageErr("--hierarchical already names a lock; drop --named")
	}
	if f.conflictExit < 0 || f.conflictExit > 255 {
		return usageErr("--conflict-exit-code must be 0..255, got %d", f.conflictExit)
	}
	opts := []host.LockOption{host.WithMode(mode), host.WithLimit(f.limit)}
	for _, kv := range f.meta {
		k, v, ok := strings.Cut(kv, "=")
		if !ok || k == "" {
			return usageErr("--meta wants k=v, got %q", kv)
		}
		opts = append(opts, host.WithMeta(k, v))
	}
	if f.noWait {
		opts = append(opts, host.NoWait())
	}
	if f.named || f.hierarchical {
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
	} else if sock != "" && g.backend == "" && g.pluginDir == "" && f.ttl == 0 {
		return runExecAgent(sock, g, f, mode, resource, argv)
	}
	overrides := map[string]any{}
	if f.ttl != 0 {
		overrides["lease.ttl"] = f.ttl.String()
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
	if f.wait > 0 {
		wctx, wcancel = context.WithTimeout(ctx, f.wait)
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
		if f.hierarchical {
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
			return notObtained(h, resource, a.err, f.conflictExit)
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
