//go:build !linux

package host

import "os/exec"

// setPluginProcAttr has nothing to set off Linux: the plugin notices its
// host's death by watching its parent process.
func setPluginProcAttr(*exec.Cmd) {}
