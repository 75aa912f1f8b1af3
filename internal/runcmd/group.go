//go:build unix

package runcmd

import (
	"os"
	"syscall"
	"time"

	"github.com/locksmithx/locksmith/internal/procgroup"
)

// A command's process group is stopped in two steps: SIGTERM, then SIGKILL
// after a grace period; then exec waits, up to groupGoneWait, until no
// process of the group is left.
const (
	leftoverGrace = 2 * time.Second
	groupGoneWait = 5 * time.Second
	GroupPoll     = 10 * time.Millisecond
)

// SignalGroup sends sig to every process of group pgid.
func SignalGroup(pgid int, sig os.Signal) {
	if s, ok := sig.(syscall.Signal); ok && pgid > 1 {
		_ = syscall.Kill(-pgid, s)
	}
}

// stopGroup makes sure no process of group pgid is left: it reaps what has
// exited, sends SIGTERM to what runs, SIGKILL after grace, and waits until
// the group is empty. It reports false if processes were still left after
// the bounded wait (a process stuck in the kernel, say). It must run only
// after the group's leader has been waited for.
func stopGroup(pgid int, grace time.Duration) bool {
	reapGroup(pgid)
	if !procgroup.Exists(pgid) {
		return true
	}
	SignalGroup(pgid, syscall.SIGTERM)
	for deadline := time.Now().Add(grace); time.Now().Before(deadline); {
		time.Sleep(GroupPoll)
		reapGroup(pgid)
		if !procgroup.Exists(pgid) {
			return true
		}
	}
	for deadline := time.Now().Add(groupGoneWait); time.Now().Before(deadline); {
		SignalGroup(pgid, syscall.SIGKILL)
		time.Sleep(GroupPoll)
		reapGroup(pgid)
		if !procgroup.Exists(pgid) {
			return true
		}
	}
	return false
}

// reapGroup collects every exited child in group pgid: the command's
// orphans are exec's children once exec is their subreaper.
func reapGroup(pgid int) {
	for i := 0; i < 1<<16; i++ {
		var ws syscall.WaitStatus
		pid, err := syscall.Wait4(-pgid, &ws, syscall.WNOHANG, nil)
		if pid <= 0 || err != nil {
			return
		}
	}
}
