// Package runcmd runs a command while a lock is held: what `locksmith
// exec` and `locksmith-exec` do once the lock is theirs. It depends on the
// standard library alone (and the process-group probe), so that a thin
// client of a server starts as fast as a small Go program can.
package runcmd

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"runtime"
	"strconv"
	"syscall"
	"time"
)

// Lock is a lock held for the command: a host's lease, or one a server
// holds for a client.
type Lock interface {
	Token() int64
	Resource() string
	// Done is closed when the lock ends, released or lost.
	Done() <-chan struct{}
	// Lost is why the lock was lost, or nil.
	Lost() error
}

// Options are what Run needs besides the lock and the command.
type Options struct {
	// Mode is the lock's mode, as LOCKSMITH_MODE tells the command.
	Mode string
	// TTL is the lease's TTL: after a loss, the command gets a sixth of
	// it (at least 100 ms) between SIGTERM and SIGKILL.
	TTL time.Duration
	// Guard asks for the command's process group to be stopped should the
	// caller die while it runs; the returned func undoes that.
	Guard func(pgid int) (unguard func(), err error)
	// Signals are the signals the caller receives; each goes to the
	// command's whole group.
	Signals <-chan os.Signal
	// Warn reports what the command's caller should know (nil: stderr).
	Warn func(msg string, err error)
	// Describe words an error for a message (nil: its Error).
	Describe func(error) string
}

// ExitFailure is the exit code of a command whose end says nothing better.
const ExitFailure = 1

// Run runs argv while l is held and returns its exit code. The command
// runs in a process group of its own (in the terminal's foreground when
// the caller is), guarded should the caller die; signals to the caller go
// to the whole group; and no process of the group is left when Run
// returns, so none outlives the lock. The command is started from a thread
// locked for its whole life, because Linux's parent-death signal follows
// the thread that started the child.
func Run(l Lock, argv []string, o Options) (int, error) {
	describe := o.Describe
	if describe == nil {
		describe = func(err error) string { return err.Error() }
	}
	warn := o.Warn
	if warn == nil {
		warn = func(msg string, err error) {
			if err != nil {
				msg += ": " + describe(err)
			}
			fmt.Fprintf(os.Stderr, "locksmith: %s\n", msg)
		}
	}
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()

	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = os.Stdin, os.Stdout, os.Stderr
	cmd.Env = append(os.Environ(),
		"LOCKSMITH_FENCING_TOKEN="+strconv.FormatInt(l.Token(), 10),
		"LOCKSMITH_RESOURCE="+l.Resource(),
		"LOCKSMITH_MODE="+o.Mode,
	)
	tty := foregroundTTY()
	setChildProcAttr(cmd, tty)
	if err := cmd.Start(); err != nil {
		code := 127
		if errors.Is(err, os.ErrPermission) {
			code = 126
		}
		return code, fmt.Errorf("run %s: %w", argv[0], err)
	}
	pgid := cmd.Process.Pid
	if tty >= 0 {
		defer restoreForeground(tty)
	}
	unguard, err := o.Guard(pgid)
	if err != nil {
		warn("the command's process group is not guarded: if locksmith is killed, its processes may outlive the lock", err)
		unguard = func() {}
	}
	defer unguard()
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	chld := make(chan os.Signal, 1)
	signal.Notify(chld, syscall.SIGCHLD)
	defer signal.Stop(chld)

	// After a loss, the lease has about a third of its TTL left in the
	// store: SIGTERM at once, SIGKILL half-way through what remains.
	grace := max(o.TTL/6, 100*time.Millisecond)
	var (
		kill   <-chan time.Time
		killAt time.Time
		werr   error
	)
	lost := l.Done()
wait:
	for {
		select {
		case werr = <-exited:
			break wait
		case s := <-o.Signals:
			SignalGroup(pgid, s)
		case <-chld:
			reapOrphans(pgid, pgid)
		case <-lost:
			lost = nil
			if lerr := l.Lost(); lerr != nil {
				fmt.Fprintf(os.Stderr, "locksmith: %s; sending SIGTERM to the command\n", describe(lerr))
				SignalGroup(pgid, syscall.SIGTERM)
				killAt = time.Now().Add(grace)
				kill = time.After(grace)
			}
		case <-kill:
			SignalGroup(pgid, syscall.SIGKILL)
		}
	}
	code := exitCode(cmd, werr)
	if tty >= 0 {
		restoreForeground(tty)
	}
	// What the command left running in its group is stopped before the
	// lock is released.
	left := min(grace, leftoverGrace)
	if !killAt.IsZero() {
		left = max(time.Until(killAt), 0)
	}
	if !stopGroup(pgid, left) {
		warn(fmt.Sprintf("processes of the command's group (pgid %d) still run after SIGKILL", pgid), nil)
	}
	if lerr := l.Lost(); lerr != nil {
		return code, fmt.Errorf("%s; the command was stopped", describe(lerr))
	}
	return code, nil
}

// exitCode is the shell's view of how the command ended.
func exitCode(cmd *exec.Cmd, err error) int {
	if err == nil {
		return 0
	}
	if ws, ok := cmd.ProcessState.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
		return 128 + int(ws.Signal())
	}
	if c := cmd.ProcessState.ExitCode(); c >= 0 {
		return c
	}
	return ExitFailure
}
