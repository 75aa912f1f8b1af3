package sdk

import (
	"errors"
	"syscall"
)

// groupExists reports whether process group pgid has any member, zombies
// included.
func groupExists(pgid int) bool {
	return !errors.Is(syscall.Kill(-pgid, 0), syscall.ESRCH)
}
