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
//	locksmith-exec [flags] RESOURCE -c 'shell command'
package main

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"

	"github.com/spf13/pflag"

	"github.com/locksmithx/locksmith/internal/agentproto"
	"github.com/locksmithx/locksmith/internal/execflags"
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

func run(args []string) (int, error) {
	var f execflags.Flags
	fl := pflag.NewFlagSet("locksmith-exec", pflag.ContinueOnError)
	f.Register(fl, "locksmith-exec", false)
	fl.Usage = func() {
		fmt.Fprintf(os.Stderr, "usage: locksmith-exec [flags] RESOURCE [--] CMD [ARGS...]\n\nRuns CMD while the server named by %s holds the lock.\n\n%s", agentproto.ServerEnv, fl.FlagUsages())
	}
	if err := fl.Parse(args); err != nil {
		if errors.Is(err, pflag.ErrHelp) {
			return 0, nil
		}
		return agentproto.ExitUsage, err
	}
	resource, argv, err := f.Args(fl, fl.Args(), fl.ArgsLenAtDash())
	if err != nil {
		return agentproto.ExitUsage, err
	}
	req := f.Request(resource)
	// The server spells the resource: locksmith-exec does not link the
	// host. A path is made absolute here, where the working directory is.
	if f.Named || f.Hierarchical {
		req.Kind = "name"
	} else {
		abs, err := filepath.Abs(resource)
		if err != nil {
			return agentproto.ExitUsage, fmt.Errorf("resource %q: %w", resource, err)
		}
		req.Resource, req.Kind = abs, "path"
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
