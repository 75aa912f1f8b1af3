//go:build unix

package sdk

import "syscall"

// canGuard says whether process groups can be guarded on this platform.
const canGuard = true

// ownGroups returns the plugin's process group and its host's (the
// plugin's own when the host's cannot be read).
func ownGroups(parent int) (own, host int) {
	own = syscall.Getpgrp()
	host, err := syscall.Getpgid(parent)
	if err != nil {
		host = own
	}
	return own, host
}

// killGroup sends SIGKILL to every process of group pgid.
func killGroup(pgid int) { _ = syscall.Kill(-pgid, syscall.SIGKILL) }
