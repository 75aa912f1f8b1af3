package host

import (
	"context"
	"fmt"
	"sort"
	"sync"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/locksmithx/locksmith/sdk"
)

// guardTimeout bounds one push of the guarded groups to the plugin.
const guardTimeout = 5 * time.Second

// GuardProcessGroup asks the backend plugins to guard process group pgid, a
// group of this process's children (exec runs its command in one): should
// this process die (even by SIGKILL) or the plugin get SIGTERM, the plugin
// SIGKILLs the group and waits up to 2 s until none of its processes runs,
// before it ends this host's sessions. So no process of the group runs on
// once the host's locks can pass to another holder.
//
// The guard holds until unguard is called (call it once the group is gone,
// before releasing the lock it ran under; calling it more than once is
// safe), and across plugin restarts: a restarted plugin is told again.
// Close stops the plugin, which kills the groups still guarded then. It
// fails when pgid is not above 1 or is the host's own group, or when the plugin cannot guard (one
// built with an older sdk); the group is then guarded by no one but the
// caller. Safe for concurrent use.
//
// What still escapes: a process that leaves the group (setsid, setpgid),
// and everything when the host and its plugin are killed at once.
func (h *Host) GuardProcessGroup(pgid int) (unguard func(), err error) {
	if pgid <= 1 {
		return nil, fmt.Errorf("%w: guard process group %d: not a process group id", ErrInvalidArgument, pgid)
	}
	if pgid == ownProcessGroup() {
		return nil, fmt.Errorf("%w: guard process group %d: it is this process's own group; run the command in a group of its own", ErrInvalidArgument, pgid)
	}
	// Every backend the config runs guards the group: whichever one the
	// command's lock is on, its plugin stops the group before it ends the
	// host's session.
	p := h.pipe.Load()
	var sups []*supervisor
	for _, name := range p.cfg.Running() {
		s := p.slots[name].sup
		s.guards.add(pgid)
		if err := s.pushGuards(); err != nil {
			for _, done := range append(sups, s) {
				done.guards.remove(pgid)
				_ = done.pushGuards()
			}
			return nil, err
		}
		sups = append(sups, s)
	}
	var once sync.Once
	return func() {
		once.Do(func() {
			for _, s := range sups {
				s.guards.remove(pgid)
				if err := s.pushGuards(); err != nil {
					s.log.Warn("unguard process group failed", "pgid", pgid, "error", err)
				}
			}
		})
	}, nil
}

// guardList is the set of process groups a supervisor's plugin guards,
// counted, so that one group guarded twice stays guarded until both are
// unguarded. Its zero value is empty.
type guardList struct {
	mu     sync.Mutex // held while the set is pushed, so pushes stay in order
	counts map[int]int
}

func (gl *guardList) add(pgid int) {
	gl.mu.Lock()
	defer gl.mu.Unlock()
	if gl.counts == nil {
		gl.counts = map[int]int{}
	}
	gl.counts[pgid]++
}

func (gl *guardList) remove(pgid int) {
	gl.mu.Lock()
	defer gl.mu.Unlock()
	if gl.counts[pgid]--; gl.counts[pgid] <= 0 {
		delete(gl.counts, pgid)
	}
}

// send pushes the whole set to the plugin behind conn. An empty set is
// pushed only when force is set: a fresh plugin guards nothing already.
func (gl *guardList) send(ctx context.Context, conn *sdk.Conn, force bool) error {
	gl.mu.Lock()
	defer gl.mu.Unlock()
	if len(gl.counts) == 0 && !force {
		return nil
	}
	pgids := make([]int, 0, len(gl.counts))
	for p := range gl.counts {
		pgids = append(pgids, p)
	}
	sort.Ints(pgids)
	return conn.GuardProcessGroups(ctx, pgids)
}

// resendGuards tells a freshly started plugin the groups it guards; a
// plugin that cannot guard is logged, not refused.
func (gl *guardList) resend(ctx context.Context, conn *sdk.Conn, log hclog.Logger) {
	if err := gl.send(ctx, conn, false); err != nil {
		log.Warn("plugin cannot guard process groups; a command may outlive its lock if locksmith is killed", "error", err)
	}
}

// pushGuards sends the supervisor's guarded groups to its running plugin,
// starting it if none runs.
func (s *supervisor) pushGuards() error {
	ctx, cancel := context.WithTimeout(context.Background(), guardTimeout)
	defer cancel()
	g, err := s.get(ctx)
	if err != nil {
		return err
	}
	if err := s.guards.send(ctx, g.conn, true); err != nil {
		return backendErr("guard process groups", err)
	}
	return nil
}
