//go:build unix

package sdk

import (
	"os/exec"
	"syscall"
)

// killLaunchGroup SIGKILLs the process group of a plugin started as the leader
// of a group of its own, so that a program refused at launch takes its
// children with it: a script's child holding the plugin's output pipe would
// otherwise keep go-plugin waiting for its end.
func killLaunchGroup(cmd *exec.Cmd) {
	if cmd.Process == nil || cmd.SysProcAttr == nil || !cmd.SysProcAttr.Setpgid || cmd.SysProcAttr.Pgid != 0 {
		return
	}
	_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
}
