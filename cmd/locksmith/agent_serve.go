//go:build linux

package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"syscall"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/locksmithx/locksmith/host"
	"github.com/locksmithx/locksmith/internal/procgroup"
	"github.com/locksmithx/locksmith/internal/runcmd"
)

// agentGroupWait bounds how long the server waits for a vanished client's
// command group to die before it releases the client's lock.
const agentGroupWait = 2 * time.Second

// agentServer serves exec clients on a unix socket from one host (see
// agent.go for the protocol).
type agentServer struct {
	h   *host.Host
	ttl time.Duration
	log hclog.Logger
	wg  sync.WaitGroup
}

// startAgent serves exec clients of h on the unix socket path until stop
// is called; stop closes the socket, removes it, and waits until every
// client's lock is released.
func startAgent(path string, h *host.Host, ttl time.Duration, log hclog.Logger) (stop func(), err error) {
	ln, err := listenAgent(path)
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithCancel(context.Background())
	s := &agentServer{h: h, ttl: ttl, log: log}
	done := make(chan struct{})
	go func() {
		defer close(done)
		s.serve(ctx, ln)
	}()
	return func() {
		ln.Close()
		cancel()
		<-done
	}, nil
}

// peerCred returns the user and process ids of the process at the other
// end of c.
func peerCred(c *net.UnixConn) (uid, pid int, err error) {
	raw, err := c.SyscallConn()
	if err != nil {
		return -1, 0, err
	}
	var cred *syscall.Ucred
	var serr error
	if err := raw.Control(func(fd uintptr) {
		cred, serr = syscall.GetsockoptUcred(int(fd), syscall.SOL_SOCKET, syscall.SO_PEERCRED)
	}); err != nil {
		return -1, 0, err
	}
	if serr != nil {
		return -1, 0, serr
	}
	return int(cred.Uid), int(cred.Pid), nil
}

// listenAgent listens on the unix socket path, readable and writable by
// this user only: whoever can connect can take and release locks. A stale
// socket file (no server answers on it) is replaced.
func listenAgent(path string) (*net.UnixListener, error) {
	if c, err := net.Dial("unix", path); err == nil {
		c.Close()
		return nil, fmt.Errorf("listen on %s: another server answers there", path)
	}
	if fi, err := os.Lstat(path); err == nil && fi.Mode()&os.ModeSocket != 0 {
		_ = os.Remove(path)
	}
	old := syscall.Umask(0o177)
	ln, err := net.ListenUnix("unix", &net.UnixAddr{Name: path, Net: "unix"})
	syscall.Umask(old)
	if err != nil {
		return nil, fmt.Errorf("listen on %s: %w", path, err)
	}
	ln.SetUnlinkOnClose(true)
	return ln, nil
}

// serve accepts clients until ln is closed, then waits for the
// connections it serves to end (each ends with its client, or when ctx is
// cancelled, releasing its lock).
func (s *agentServer) serve(ctx context.Context, ln *net.UnixListener) {
	defer s.wg.Wait()
	for {
		c, err := ln.AcceptUnix()
		if err != nil {
			if !errors.Is(err, net.ErrClosed) {
				s.log.Error("accept on the agent socket failed", "error", err)
			}
			return
		}
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			s.handle(ctx, c)
		}()
	}
}

// handle serves one client: one lock, held while the connection lasts.
func (s *agentServer) handle(ctx context.Context, c *net.UnixConn) {
	defer c.Close()
	uid, pid, err := peerCred(c)
	if err != nil || uid != os.Getuid() {
		s.log.Warn("agent client refused: not this user's process", "uid", uid, "error", err)
		return
	}
	ac := newAgentConn(c)
	var req agentRequest
	if err := ac.Dec.Decode(&req); err != nil || req.Op != "acquire" {
		return
	}
	// Everything the client says next arrives here; the channel closes
	// when the client goes away (or half-closes to withdraw).
	msgs := make(chan agentRequest, 4)
	go func() {
		defer close(msgs)
		for {
			var r agentRequest
			if err := ac.Dec.Decode(&r); err != nil {
				return
			}
			msgs <- r
		}
	}()

	lease, reply := s.acquire(ctx, &req, pid, msgs)
	if lease == nil {
		if reply.Op != "" {
			_ = ac.Send(reply)
		}
		return
	}
	if err := ac.Send(reply); err != nil {
		s.releaseFor(lease, 0, nil, false)
		return
	}
	var (
		pgid    int
		unguard func()
		lost    = lease.Done()
	)
	for {
		select {
		case r, ok := <-msgs:
			switch {
			case !ok:
				s.releaseFor(lease, pgid, unguard, true)
				return
			case r.Op == "guard" && pgid == 0 && r.PGID > 1:
				pgid = r.PGID
				u, err := s.h.GuardProcessGroup(pgid)
				if err != nil {
					_ = ac.Send(agentReply{Op: "guarded", Message: message(err)})
					continue
				}
				unguard = u
				_ = ac.Send(agentReply{Op: "guarded"})
			case r.Op == "release":
				err := s.releaseFor(lease, 0, unguard, false)
				rep := agentReply{Op: "released"}
				if err != nil && !errors.Is(err, host.ErrNotHeld) {
					rep.Message = message(err)
				}
				_ = ac.Send(rep)
				return
			default:
				s.log.Warn("agent client sent an unexpected message; dropping it", "op", r.Op, "pid", pid)
				s.releaseFor(lease, pgid, unguard, true)
				return
			}
		case <-lost:
			lost = nil
			if lerr := lease.Lost(); lerr != nil {
				_ = ac.Send(agentReply{Op: "lost", Message: message(lerr)})
			}
		case <-ctx.Done():
			s.releaseFor(lease, pgid, unguard, true)
			return
		}
	}
}

// acquire takes the lock req asks for. It returns the lease and the
// "granted" reply, or no lease and the "refused" reply (no reply at all
// when the client went away while it waited: its request is withdrawn).
func (s *agentServer) acquire(ctx context.Context, req *agentRequest, pid int, msgs <-chan agentRequest) (*host.Lease, agentReply) {
	refuse := func(code int, err error) (*host.Lease, agentReply) {
		return nil, agentReply{Op: "refused", Code: code, Message: message(err)}
	}
	mode, err := host.ParseMode(req.Mode)
	if err != nil {
		return refuse(exitUsage, fmt.Errorf("--mode: %w", err))
	}
	if err := checkLimit(mode, req.Limit); err != nil {
		return refuse(exitUsage, err)
	}
	switch req.Kind {
	case "":
	case "path", "name":
		spell := host.FileResource
		if req.Kind == "path" && !filepath.IsAbs(req.Resource) {
			return refuse(exitUsage, fmt.Errorf("resource %q: a path from a client must be absolute", req.Resource))
		}
		if req.Kind == "name" {
			spell = host.NamedResource
		}
		r, err := spell(req.Resource)
		if err != nil {
			return refuse(exitUsage, err)
		}
		req.Resource = r
	default:
		return refuse(exitUsage, fmt.Errorf("unknown resource kind %q", req.Kind))
	}
	opts := []host.LockOption{host.WithMode(mode), host.WithLimit(req.Limit)}
	for k, v := range req.Meta {
		opts = append(opts, host.WithMeta(k, v))
	}
	if pid > 0 {
		opts = append(opts, host.WithMeta("exec_pid", strconv.Itoa(pid)))
	}
	if req.NoWait {
		opts = append(opts, host.NoWait())
	}
	wctx, cancel := context.WithCancel(ctx)
	if req.WaitMS > 0 {
		wctx, cancel = context.WithTimeout(ctx, time.Duration(req.WaitMS)*time.Millisecond)
	}
	defer cancel()
	type acquired struct {
		lease *host.Lease
		err   error
	}
	got := make(chan acquired, 1)
	go func() {
		var a acquired
		if req.Hierarchical {
			a.lease, a.err = s.h.Hierarchical(wctx, req.Resource, opts...)
		} else {
			a.lease, a.err = s.h.Acquire(wctx, req.Resource, opts...)
		}
		got <- a
	}()
	var a acquired
	select {
	case a = <-got:
	case <-msgs:
		// The client went away (or withdrew) while it waited.
		cancel()
		if a = <-got; a.lease != nil {
			_ = a.lease.Release(context.Background())
		}
		return nil, agentReply{}
	}
	if a.err != nil {
		var ee *exitError
		if errors.As(notObtained(s.h, req.Resource, a.err, req.ConflictExit), &ee) {
			return refuse(ee.code, ee.err)
		}
		return refuse(exitNotLocked, a.err)
	}
	return a.lease, agentReply{Op: "granted", Token: a.lease.Token(), Resource: a.lease.Resource(), TTLMS: s.ttl.Milliseconds(), Mode: mode.String()}
}

// releaseFor releases a client's lease. When the client vanished while it
// held the lock (gone), its command's group is SIGKILLed first and waited
// for, so that no process of it runs once the lock can pass on.
func (s *agentServer) releaseFor(lease *host.Lease, pgid int, unguard func(), gone bool) error {
	if gone && pgid > 1 {
		runcmd.SignalGroup(pgid, syscall.SIGKILL)
		for deadline := time.Now().Add(agentGroupWait); procgroup.Runs(pgid) && time.Now().Before(deadline); {
			time.Sleep(runcmd.GroupPoll)
			runcmd.SignalGroup(pgid, syscall.SIGKILL)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), agentIOTimeout)
	defer cancel()
	err := lease.Release(ctx)
	// Unguarded after the release, not before: the release is what the
	// next holder waits for, and no process of the group is left by now
	// (the client waited for its group to be empty, or it was killed
	// above).
	if unguard != nil {
		unguard()
	}
	return err
}
