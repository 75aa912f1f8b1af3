package sdk

import (
	"context"
	"fmt"
	"os"
	"sync"
	"time"

	"github.com/locksmithx/locksmith/internal/procgroup"
	"github.com/locksmithx/locksmith/sdk/internal/pb"
)

// GuardWait bounds how long a plugin whose host died waits for the guarded
// process groups it killed to be gone before it ends the host's sessions.
const GuardWait = 2 * time.Second

// hostGoneWait bounds how long a keep-alive stream that broke waits to learn
// whether its host died (the plugin is re-parented a moment after the
// host's connections close) before it revokes the stream's sessions.
const hostGoneWait = 500 * time.Millisecond

// guardSet is the set of process groups a plugin guards for its host (see
// Conn.GuardProcessGroups). It is safe for concurrent use.
type guardSet struct {
	parent int // the host's pid, when the plugin started

	mu    sync.Mutex
	pgids map[int]struct{}
}

func newGuardSet() *guardSet {
	return &guardSet{parent: os.Getppid(), pgids: map[int]struct{}{}}
}

// set replaces the guarded groups. A group id must be above 1 and must be
// neither the plugin's own group nor its host's: killing those would kill
// the plugin or the host, and maybe the host's shell.
func (g *guardSet) set(pgids []int64) error {
	if len(pgids) > 0 && !canGuard {
		return Errorf(CodeUnavailable, "guard process groups: not supported on this platform")
	}
	own, host := ownGroups(g.parent)
	next := make(map[int]struct{}, len(pgids))
	for _, p := range pgids {
		if p <= 1 || p != int64(int(p)) || int(p) == own || int(p) == host {
			return Errorf(CodeInvalidArgument, "guard process group %d: not a process group of the host's children", p)
		}
		next[int(p)] = struct{}{}
	}
	g.mu.Lock()
	g.pgids = next
	g.mu.Unlock()
	return nil
}

// active reports whether any group is guarded.
func (g *guardSet) active() bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	return len(g.pgids) > 0
}

// hostGone reports whether the host process is gone, waiting up to wait
// for the plugin to be re-parented.
func (g *guardSet) hostGone(wait time.Duration) bool {
	deadline := time.Now().Add(wait)
	for os.Getppid() == g.parent {
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(5 * time.Millisecond)
	}
	return true
}

// killAll SIGKILLs every guarded group and waits, up to wait, until no
// process of any of them runs (zombies aside: the plugin cannot reap what
// is not its child). It forgets the groups, and can safely be called more
// than once and concurrently.
func (g *guardSet) killAll(wait time.Duration) {
	g.mu.Lock()
	pgids := make([]int, 0, len(g.pgids))
	for p := range g.pgids {
		pgids = append(pgids, p)
	}
	g.mu.Unlock()
	for _, p := range pgids {
		killGroup(p)
	}
	deadline := time.Now().Add(wait)
	for _, p := range pgids {
		for procgroup.Runs(p) && time.Now().Before(deadline) {
			killGroup(p)
			time.Sleep(5 * time.Millisecond)
		}
	}
	g.mu.Lock()
	for _, p := range pgids {
		delete(g.pgids, p)
	}
	g.mu.Unlock()
}

func (s *pluginServer) GuardProcessGroups(_ context.Context, req *pb.GuardProcessGroupsRequest) (*pb.GuardProcessGroupsResponse, error) {
	if s.guards == nil {
		return nil, toStatus(Errorf(CodeUnavailable, "guard process groups: this plugin does not guard"))
	}
	return &pb.GuardProcessGroupsResponse{}, toStatus(s.guards.set(req.ProcessGroups))
}

// GuardProcessGroups replaces the set of process groups the plugin guards
// with pgids (each a process group of the host's children; none, to guard
// nothing). Should the host die, or the plugin be sent SIGTERM, the plugin
// SIGKILLs every guarded group and waits up to GuardWait until none of
// their processes runs, before it revokes the host's sessions: a process
// started under a lock never outlives the lock. A plugin built with an sdk
// older than this call answers with an error, and guards nothing.
func (c *Conn) GuardProcessGroups(ctx context.Context, pgids []int) error {
	pc, ok := c.raw.(interface{ base() *pluginClient })
	if !ok {
		return fmt.Errorf("guard process groups: plugin of unknown kind %T", c.raw)
	}
	req := &pb.GuardProcessGroupsRequest{ProcessGroups: make([]int64, len(pgids))}
	for i, p := range pgids {
		req.ProcessGroups[i] = int64(p)
	}
	_, err := pc.base().c.GuardProcessGroups(ctx, req)
	return clientErr(ctx, err)
}

func (c *pluginClient) base() *pluginClient { return c }
