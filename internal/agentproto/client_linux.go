package agentproto

import (
	"errors"
	"fmt"
	"net"
	"os"
	"os/signal"
	"sync"
	"syscall"
	"time"

	"github.com/locksmithx/locksmith/internal/runcmd"
)

// ErrLost is the cause of a lock the server's connection ended under.
var ErrLost = errors.New("lock lost")

// lease is a lock a server holds for this client over its connection.
type lease struct {
	token    int64
	resource string
	done     chan struct{}
	replies  chan Reply // guarded, released

	mu   sync.Mutex
	lost error
	once sync.Once
}

func (l *lease) Token() int64          { return l.token }
func (l *lease) Resource() string      { return l.resource }
func (l *lease) Done() <-chan struct{} { return l.done }

func (l *lease) Lost() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.lost
}

// end marks the lock ended, lost for cause when cause is not nil.
func (l *lease) end(cause error) {
	l.once.Do(func() {
		l.mu.Lock()
		l.lost = cause
		l.mu.Unlock()
		close(l.done)
	})
}

// Exec runs argv under the lock req asks for, held by the server on the
// unix socket sock: it sends req, waits for the grant (or a signal, which
// withdraws the request), runs the command as runcmd.Run does, and
// releases. It returns the exit code and, when there is one to print, why.
func Exec(sock string, req Request, argv []string, o ExecOptions) (int, error) {
	sigs := make(chan os.Signal, 8)
	signal.Notify(sigs, syscall.SIGINT, syscall.SIGTERM, syscall.SIGHUP, syscall.SIGQUIT, syscall.SIGUSR1, syscall.SIGUSR2)
	defer signal.Stop(sigs)
	_ = runcmd.BecomeSubreaper()

	c, err := net.DialUnix("unix", nil, &net.UnixAddr{Name: sock, Net: "unix"})
	if err != nil {
		var oe *net.OpError
		if errors.As(err, &oe) && oe.Err != nil {
			err = oe.Err
		}
		return ExitNotLocked, fmt.Errorf("lock %s not obtained: reach server unix://%s: %w (start `locksmith serve --agent-socket %s`, or unset %s)",
			req.Resource, sock, err, sock, ServerEnv)
	}
	defer c.Close()
	ac := NewConn(c)
	req.Op = "acquire"
	if err := ac.Send(req); err != nil {
		return ExitNotLocked, fmt.Errorf("lock %s not obtained: %w", req.Resource, err)
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
	first := make(chan Reply, 1)
	l := &lease{resource: req.Resource, done: make(chan struct{}), replies: make(chan Reply, 4)}
	readerDone := make(chan struct{})
	go func() {
		defer close(readerDone)
		granted := false
		for {
			var r Reply
			if err := ac.Dec.Decode(&r); err != nil {
				if !granted {
					close(first)
				}
				l.end(fmt.Errorf("%w: the server's connection ended: %v", ErrLost, err))
				close(l.replies)
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
				l.end(fmt.Errorf("%s", r.Message))
			default:
				l.replies <- r
			}
		}
	}()

	var r Reply
	select {
	case rep, ok := <-first:
		if !ok {
			return ExitNotLocked, fmt.Errorf("lock %s not obtained: the server closed the connection", req.Resource)
		}
		r = rep
	case s := <-sigs:
		// Withdraw: the server drops the request (or releases a lock it
		// just granted) when it reads the end of the connection.
		_ = c.CloseWrite()
		select {
		case <-readerDone:
		case <-time.After(IOTimeout):
		}
		return 128 + int(s.(syscall.Signal)), fmt.Errorf("interrupted by %v while waiting for %s", s, req.Resource)
	}
	if r.Op != "granted" {
		code := r.Code
		if code == 0 {
			code = ExitNotLocked
		}
		return code, errors.New(r.Message)
	}
	l.token = r.Token
	if r.Resource != "" {
		l.resource = r.Resource
	}
	ro := o.Run
	ro.TTL = time.Duration(r.TTLMS) * time.Millisecond
	ro.Signals = sigs
	if r.Mode != "" {
		ro.Mode = r.Mode
	}
	ro.Guard = func(pgid int) (func(), error) {
		if err := ac.Send(Request{Op: "guard", PGID: pgid}); err != nil {
			return nil, err
		}
		rep, ok := <-l.replies
		switch {
		case !ok:
			return nil, errors.New("the server's connection ended")
		case rep.Message != "":
			return nil, errors.New(rep.Message)
		}
		// The server unguards the group when it releases the lock.
		return func() {}, nil
	}
	code, err := runcmd.Run(l, argv, ro)
	if serr := ac.Send(Request{Op: "release"}); serr == nil {
		select {
		case rep, ok := <-l.replies:
			if ok && rep.Message != "" && err == nil {
				fmt.Fprintf(os.Stderr, "locksmith: %s\n", rep.Message)
			}
		case <-time.After(IOTimeout):
		}
	}
	return code, err
}
