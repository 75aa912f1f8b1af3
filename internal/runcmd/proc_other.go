//go:build !linux

package runcmd

import (
	"errors"
	"os/exec"
	"syscall"
)

// BecomeSubreaper is Linux-only: elsewhere orphans go to init, which reaps
// them.
func BecomeSubreaper() error { return errors.New("no child subreaper off Linux") }

// setChildProcAttr runs the command in a process group of its own; off
// Linux there is no parent-death signal, and the terminal is left alone.
func setChildProcAttr(cmd *exec.Cmd, _ int) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
}

func foregroundTTY() int { return -1 }

func restoreForeground(int) {}

// reapOrphans has nothing to do: without a subreaper, orphans go to init.
func reapOrphans(int, int) {}
