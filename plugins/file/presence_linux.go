package file

import (
	"os"
	"syscall"
)

// Presence marks are open file description (OFD) locks on one byte far
// beyond a state file's data: a watch holds a shared one on its
// descriptor; a process about to remove the file tests for them with an
// exclusive one. OFD locks are independent of flock and of the process's
// other descriptors, and the kernel drops them with the descriptor.
const (
	fOFDGetlk   = 36
	fOFDSetlk   = 37
	presenceOff = 1 << 62
)

// setPresence takes (on) or drops the presence mark on f.
func setPresence(f *os.File, on bool) {
	lk := syscall.Flock_t{Type: syscall.F_UNLCK, Whence: 0, Start: presenceOff, Len: 1}
	if on {
		lk.Type = syscall.F_RDLCK
	}
	_ = syscall.FcntlFlock(f.Fd(), fOFDSetlk, &lk)
}

// watchedElsewhere reports whether another descriptor of f's file carries
// a presence mark. Uncertain answers count as watched: the file stays.
func watchedElsewhere(f *os.File) bool {
	lk := syscall.Flock_t{Type: syscall.F_WRLCK, Whence: 0, Start: presenceOff, Len: 1}
	if err := syscall.FcntlFlock(f.Fd(), fOFDGetlk, &lk); err != nil {
		return true
	}
	return lk.Type != syscall.F_UNLCK
}
