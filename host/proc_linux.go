package host

import (
	"os/exec"
	"syscall"
)

// setPluginProcAttr makes the kernel send the plugin SIGTERM when the host
// dies, so that it revokes its sessions and exits at once. (The plugin also
// watches its parent, in case the signal is missed.) The plugin runs in a
// process group of its own, so that a signal to the host's group (a shell
// killing its job) does not take it down with the host: it must outlive
// the host long enough to kill the process groups it guards.
func setPluginProcAttr(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGTERM, Setpgid: true}
}
