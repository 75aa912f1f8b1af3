//go:build unix

package host

import "syscall"

// ownProcessGroup is the id of this process's process group.
func ownProcessGroup() int { return syscall.Getpgrp() }
