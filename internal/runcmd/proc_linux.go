package runcmd

import (
	"os"
	"os/exec"
	"os/signal"
	"syscall"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/locksmithx/locksmith/internal/procgroup"
)

// prSetChildSubreaper is PR_SET_CHILD_SUBREAPER (linux/prctl.h).
const prSetChildSubreaper = 36

// BecomeSubreaper makes the processes the command orphans exec's children
// rather than init's, so that exec can reap them and see when its command's
// group is empty.
func BecomeSubreaper() error {
	_, _, errno := syscall.RawSyscall(syscall.SYS_PRCTL, prSetChildSubreaper, 1, 0)
	if errno != 0 {
		return errno
	}
	return nil
}

// setChildProcAttr runs the command in a process group of its own, in the
// terminal's foreground when tty is the terminal exec runs in the
// foreground of (else -1), and makes it die with exec.
func setChildProcAttr(cmd *exec.Cmd, tty int) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if tty >= 0 {
		cmd.SysProcAttr.Foreground = true
		cmd.SysProcAttr.Ctty = tty
	}
}

// foregroundTTY returns the file descriptor of the terminal on stdin when
// exec's process group is its foreground group, else -1.
func foregroundTTY() int {
	var pgrp int32
	if _, _, errno := syscall.Syscall(syscall.SYS_IOCTL, 0, syscall.TIOCGPGRP, uintptr(unsafe.Pointer(&pgrp))); errno != 0 {
		return -1
	}
	if int(pgrp) != syscall.Getpgrp() {
		return -1
	}
	return 0
}

// restoreForeground gives the terminal tty back to exec's process group.
// exec is a background process when it does so, so SIGTTOU is ignored
// meanwhile.
func restoreForeground(tty int) {
	signal.Ignore(syscall.SIGTTOU)
	defer signal.Reset(syscall.SIGTTOU)
	pgrp := int32(syscall.Getpgrp())
	_, _, _ = syscall.Syscall(syscall.SYS_IOCTL, uintptr(tty), syscall.TIOCSPGRP, uintptr(unsafe.Pointer(&pgrp)))
}

// reapOrphans collects the exited processes of group pgid that are exec's
// children by adoption (exec is their subreaper), leaving the group's
// leader to its own Wait: a command that keeps orphaning short-lived
// processes does not pile up zombies under exec while it runs.
func reapOrphans(pgid, leader int) {
	// Once the leader has exited (a zombie, or already reaped by exec's
	// Wait: ECHILD), the command is over, and what the group left is
	// stopped and reaped then. The scan below reads every process's stat,
	// so it is kept for the orphans of a command that still runs, off the
	// way from the command's end to the lock's release.
	var si unix.Siginfo
	if err := unix.Waitid(unix.P_PID, leader, &si, unix.WEXITED|unix.WNOHANG|unix.WNOWAIT, nil); err != nil || si.Signo != 0 {
		return
	}
	self := os.Getpid()
	_ = procgroup.Scan(func(p procgroup.Proc) bool {
		if p.State == 'Z' && p.PPID == self && p.PGID == pgid && p.PID != leader {
			var ws syscall.WaitStatus
			_, _ = syscall.Wait4(p.PID, &ws, syscall.WNOHANG, nil)
		}
		return true
	})
}
