// Command locksmith-exec is `locksmith exec` as a thin client of a running
// `locksmith serve --agent-socket PATH` (LOCKSMITH_SERVER=unix:///PATH):
// the server takes and holds the lock, and locksmith-exec runs the command
// under it exactly as `locksmith exec` does, through the same code.
//
// It exists for speed. `locksmith` carries every backend, the server and
// its dependencies, and on a small machine starting it costs several times
// what the work of a short locked command does; locksmith-exec links the
// standard library and the exec code alone.
//
//	locksmith-exec [flags] RESOURCE [--] CMD [ARGS...]
//	locksmith-exec [flags] -c 'shell command' RESOURCE
package main

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"time"

	"github.com/spf13/pflag"

	"github.com/locksmithx/locksmith/internal/agentproto"
)

func main() {
	// One CPU: the client waits on its server and its command, and the Go
	// scheduler's cross-CPU wake-ups cost more than they give here.
	// GOMAXPROCS in the environment still wins.
	if os.Getenv("GOMAXPROCS") == "" {
		runtime.GOMAXPROCS(1)
	}
	code, err := run(os.Args[1:])
	if err != nil {
		fmt.Fprintf(os.Stderr, "locksmith-exec: %s\n", strings.TrimPrefix(err.Error(), "locksmith: "))
	}
	os.Exit(code)
}

type flags struct {
	mode                string
	wait                time.Duration
	timeout             float64
	noWait              bool
	shared, exclusive   bool
	command             string
	conflictExit, limit int
	meta                []string
	named, hierarchical bool
}

func run(args []string) (int, error) {
	var f flags
	fl := pflag.NewFlagSet("locksmith-exec", pflag.ContinueOnError)
	fl.SetInterspersed(false)
	fl.StringVar(&f.mode, "mode", "exclusive", "lock mode: shared, exclusive, read, write, update")
	fl.DurationVar(&f.wait, "wait", 0, "give up after waiting this long (default: wait until obtained)")
	fl.BoolVarP(&f.noWait, "no-wait", "n", false, "fail at once if the lock is held")
	fl.BoolVar(&f.noWait, "nonblock", false, "the same as --no-wait (flock(1))")
	fl.Float64VarP(&f.timeout, "timeout", "w", 0, "give up after waiting this many seconds (flock(1); 0: do not wait)")
	fl.BoolVarP(&f.shared, "shared", "s", false, "shared lock: --mode shared (flock(1))")
	fl.BoolVarP(&f.exclusive, "exclusive", "x", false, "exclusive lock, the default (flock(1))")
	fl.StringVarP(&f.command, "command", "c", "", "run this shell command with /bin/sh -c (flock(1))")
	fl.IntVarP(&f.conflictExit, "conflict-exit-code", "E", agentproto.ExitNotLocked, "exit code when the lock is not obtained")
	fl.StringArrayVar(&f.meta, "meta", nil, "metadata k=v shown in status (repeatable)")
	fl.BoolVar(&f.named, "named", false, "RESOURCE is a lock name, not a file")
	fl.BoolVar(&f.hierarchical, "hierarchical", false, "RESOURCE is a hierarchical name (a/b/c): intention locks on its ancestors")
	fl.IntVar(&f.limit, "limit", 0, "a semaphore: at most this many holders (shared mode)")
	fl.Usage = func() {
		fmt.Fprintf(os.Stderr, "usage: locksmith-exec [flags] RESOURCE [--] CMD [ARGS...]\n\nRuns CMD while the server named by %s holds the lock.\n\n%s", agentproto.ServerEnv, fl.FlagUsages())
	}
	if err := fl.Parse(args); err != nil {
		if errors.Is(err, pflag.ErrHelp) {
			return 0, nil
		}
		return agentproto.ExitUsage, err
	}
	req, argv, err := f.request(fl)
	if err != nil {
		return agentproto.ExitUsage, err
	}
	sock, err := agentproto.Socket()
	if err != nil {
		return agentproto.ExitUsage, err
	}
	if sock == "" {
		return agentproto.ExitUsage, fmt.Errorf("%s is not set: locksmith-exec needs a server (`locksmith serve --agent-socket PATH`, then %s=unix:///PATH); without one, use `locksmith exec`", agentproto.ServerEnv, agentproto.ServerEnv)
	}
	return agentproto.Exec(sock, req, argv, agentproto.ExecOptions{})
}

// request checks the flags and arguments and builds the acquire request
// and the command line.
func (f *flags) request(fl *pflag.FlagSet) (agentproto.Request, []string, error) {
	var req agentproto.Request
	args := fl.Args()
	if len(args) == 0 {
		return req, nil, errors.New("needs RESOURCE and a command: locksmith-exec [flags] RESOURCE [--] CMD [ARGS...]")
	}
	resource, argv := args[0], args[1:]
	if len(argv) > 0 && argv[0] == "--" {
		argv = argv[1:]
	}
	switch {
	case f.command != "" && len(argv) > 0:
		return req, nil, errors.New("-c takes the whole command: locksmith-exec [flags] -c 'shell command' RESOURCE")
	case f.command != "":
		argv = []string{"/bin/sh", "-c", f.command}
	case len(argv) == 0:
		return req, nil, errors.New("needs a command after RESOURCE")
	}
	if f.shared && f.exclusive {
		return req, nil, errors.New("-s/--shared and -x/--exclusive exclude each other")
	}
	if f.shared || f.exclusive {
		want := map[bool]string{true: "shared", false: "exclusive"}[f.shared]
		if fl.Changed("mode") && f.mode != want {
			return req, nil, fmt.Errorf("--mode %s contradicts --%s", f.mode, want)
		}
		f.mode = want
	}
	if fl.Changed("timeout") {
		switch {
		case fl.Changed("wait"):
			return req, nil, errors.New("-w/--timeout and --wait say the same thing: give one")
		case f.timeout < 0 || f.timeout > 1e9:
			return req, nil, fmt.Errorf("-w/--timeout wants seconds, 0 or more, got %v", f.timeout)
		case f.timeout == 0:
			f.noWait = true
		default:
			f.wait = time.Duration(f.timeout * float64(time.Second))
		}
	}
	switch {
	case f.noWait && f.wait > 0:
		return req, nil, errors.New("--wait and --no-wait exclude each other")
	case f.wait < 0:
		return req, nil, errors.New("--wait must not be negative")
	case f.limit < 0:
		return req, nil, errors.New("--limit must be at least 1")
	case f.named && f.hierarchical:
		return req, nil, errors.New("--hierarchical already names a lock; drop --named")
	case f.conflictExit < 0 || f.conflictExit > 255:
		return req, nil, fmt.Errorf("--conflict-exit-code must be 0..255, got %d", f.conflictExit)
	}
	if f.limit > 0 && !fl.Changed("mode") && !f.shared && !f.exclusive {
		f.mode = "shared"
	}
	req = agentproto.Request{Resource: resource, Mode: f.mode, Limit: f.limit, NoWait: f.noWait,
		Hierarchical: f.hierarchical, ConflictExit: f.conflictExit, WaitMS: f.wait.Milliseconds()}
	if f.wait > 0 && req.WaitMS == 0 {
		req.WaitMS = 1
	}
	for _, kv := range f.meta {
		k, v, ok := strings.Cut(kv, "=")
		if !ok || k == "" {
			return req, nil, fmt.Errorf("--meta wants k=v, got %q", kv)
		}
		if req.Meta == nil {
			req.Meta = map[string]string{}
		}
		req.Meta[k] = v
	}
	if f.named || f.hierarchical {
		req.Kind = "name"
	} else {
		abs, err := filepath.Abs(resource)
		if err != nil {
			return req, nil, fmt.Errorf("resource %q: %w", resource, err)
		}
		req.Resource, req.Kind = abs, "path"
	}
	return req, argv, nil
}
