//go:build linux

package main

import (
	"errors"
	"fmt"
	"net"
	"os"
	"os/signal"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/locksmithx/locksmith/host"
)

// agentLease is a lock a server holds for this exec over conn.
type agentLease struct {
	token    int64
	resource string
	done     chan struct{}
	replies  chan agentReply // guarded, released

	mu   sync.Mutex
	lost error
	once sync.Once
}

func (l *agentLease) Token() int64          { return l.token }
func (l *agentLease) Resource() string      { return l.resource }
func (l *agentLease) Done() <-chan struct{} { return l.done }

func (l *agentLease) Lost() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.lost
}

// end marks the lock ended, lost for cause when cause is not nil.
func (l *agentLease) end(cause error) {
	l.once.Do(func() {
		l.mu.Lock()
		l.lost = cause
		l.mu.Unlock()
		close(l.done)
	})
}

// runExecAgent is exec through the server on the unix socket sock: the
// server takes and holds the lock, exec runs the command as it does with a
// host of its own.
func runExecAgent(sock string, g *globals, f *execFlags, mode host.Mode, resource string, argv []string) error {
	level := g.logLevel
	if level == "" {
		level = os.Getenv("LOCKSMITH_LOG_LEVEL")
	}
	if level == "" {
		level = "warn"
	}
	log := newLogger(level).Named("exec")

	sigs := make(chan os.Signal, 8)
	signal.Notify(sigs, syscall.SIGINT, syscall.SIGTERM, syscall.SIGHUP, syscall.SIGQUIT, syscall.SIGUSR1, syscall.SIGUSR2)
	defer signal.Stop(sigs)
	if err := becomeSubreaper(); err != nil {
		log.Debug("cannot become the subreaper of the command's orphans", "error", err)
	}

	c, err := net.DialUnix("unix", nil, &net.UnixAddr{Name: sock, Net: "unix"})
	if err != nil {
		return &exitError{code: exitNotLocked, err: fmt.Errorf("lock %s not obtained: reach server unix://%s: %w (start `locksmith serve --agent-socket %s`, or unset %s)",
			resource, sock, unwrapSyscall(err), sock, serverEnv)}
	}
	defer c.Close()
	ac := newAgentConn(c)
	req := agentRequest{Op: "acquire", Resource: resource, Mode: mode.String(), Limit: f.limit, NoWait: f.noWait,
		Hierarchical: f.hierarchical, ConflictExit: f.conflictExit, WaitMS: f.wait.Milliseconds()}
	if f.wait > 0 && req.WaitMS == 0 {
		req.WaitMS = 1
	}
	for _, kv := range f.meta {
		k, v, _ := strings.Cut(kv, "=")
		if req.Meta == nil {
			req.Meta = map[string]string{}
		}
		req.Meta[k] = v
	}
	if err := ac.send(req); err != nil {
		return &exitError{code: exitNotLocked, err: fmt.Errorf("lock %s not obtained: %w", resource, err)}
	}

	// The first start of a command checks what the kernel offers for
	// process handles (a throwaway clone among others); it is done while
	// the lock is awaited, not once it is granted.
	go func() {
		if p, err := os.FindProcess(os.Getpid()); err == nil {
			_ = p.Release()
		}
	}()

	// Every message of the server goes through one reader.
	first := make(chan agentReply, 1)
	lease := &agentLease{resource: resource, done: make(chan struct{}), replies: make(chan agentReply, 4)}
	readerDone := make(chan struct{})
	go func() {
		defer close(readerDone)
		granted := false
		for {
			var r agentReply
			if err := ac.dec.Decode(&r); err != nil {
				if !granted {
					close(first)
				}
				lease.end(fmt.Errorf("%w: the server's connection ended: %v", host.ErrLost, err))
				close(lease.replies)
				return
			}
			switch {
			case !granted:
				granted = r.Op == "granted"
				first <- r
				if !granted {
					return
				}
			case r.Op == "lost":
				lease.end(fmt.Errorf("%s", r.Message))
			default:
				lease.replies <- r
			}
		}
	}()

	var r agentReply
	select {
	case rep, ok := <-first:
		if !ok {
			return &exitError{code: exitNotLocked, err: fmt.Errorf("lock %s not obtained: the server closed the connection", resource)}
		}
		r = rep
	case s := <-sigs:
		// Withdraw: the server drops the request (or releases a lock it
		// just granted) when it reads the end of the connection.
		_ = c.CloseWrite()
		select {
		case <-readerDone:
		case <-time.After(agentIOTimeout):
		}
		return &exitError{code: 128 + int(s.(syscall.Signal)), err: fmt.Errorf("interrupted by %v while waiting for %s", s, resource)}
	}
	if r.Op != "granted" {
		code := r.Code
		if code == 0 {
			code = exitNotLocked
		}
		return &exitError{code: code, err: errors.New(r.Message)}
	}
	lease.token = r.Token
	ttl := time.Duration(r.TTLMS) * time.Millisecond

	guard := func(pgid int) (func(), error) {
		if err := ac.send(agentRequest{Op: "guard", PGID: pgid}); err != nil {
			return nil, err
		}
		rep, ok := <-lease.replies
		switch {
		case !ok:
			return nil, errors.New("the server's connection ended")
		case rep.Message != "":
			return nil, errors.New(rep.Message)
		}
		// The server unguards the group when it releases the lock.
		return func() {}, nil
	}
	code, err := runLocked(lease, guard, ttl, mode, argv, sigs, log)
	if serr := ac.send(agentRequest{Op: "release"}); serr == nil {
		select {
		case rep, ok := <-lease.replies:
			if ok && rep.Message != "" && err == nil {
				fmt.Fprintf(os.Stderr, "locksmith: %s\n", rep.Message)
			}
		case <-time.After(agentIOTimeout):
		}
	}
	yieldCPU()
	if err != nil {
		return &exitError{code: code, err: err}
	}
	return &exitError{code: code}
}

// unwrapSyscall drops net's operation prefix from a dial error.
func unwrapSyscall(err error) error {
	var oe *net.OpError
	if errors.As(err, &oe) && oe.Err != nil {
		return oe.Err
	}
	return err
}
