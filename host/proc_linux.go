package host

import (
	"os/exec"
	"syscall"
)

// setPluginProcAttr makes the kernel send the plugin SIGTERM when the host
// dies, so that it revokes its sessions and exits at once. (The plugin also
// watches its parent, in case the signal is missed.)
func setPluginProcAttr(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGTERM}
}
