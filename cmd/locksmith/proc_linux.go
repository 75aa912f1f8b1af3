package main

import (
	"os/exec"
	"syscall"
)

// setChildProcAttr makes the child die with locksmith: a killed exec never
// leaves its command running in the critical section after the lock is
// freed.
func setChildProcAttr(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}
