//go:build unix

package procgroup

import (
	"errors"
	"syscall"
)

// Exists reports whether process group pgid has any member, zombies
// included.
func Exists(pgid int) bool {
	return !errors.Is(syscall.Kill(-pgid, 0), syscall.ESRCH)
}
