package file

import (
	"context"
	"errors"
	"os"
	"syscall"
	"time"
)

// flockBackoff bounds the sleep between attempts to take a contended lock.
const flockBackoff = 2 * time.Millisecond

// lockFile takes flock(how) on f (syscall.LOCK_EX or syscall.LOCK_SH). An
// uncontended lock costs one system call; a contended one is retried with a
// growing sleep, so the wait honours ctx.
func lockFile(ctx context.Context, f *os.File, how int) error {
	wait := 20 * time.Microsecond
	for {
		err := flock(f, how|syscall.LOCK_NB)
		if err == nil {
			return nil
		}
		if !errors.Is(err, syscall.EWOULDBLOCK) {
			return &os.PathError{Op: "flock", Path: f.Name(), Err: err}
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		time.Sleep(wait)
		wait = min(wait*2, flockBackoff)
	}
}

// unlockFile releases a flock taken by lockFile.
func unlockFile(f *os.File) {
	_ = flock(f, syscall.LOCK_UN)
}

// flock is flock(2) on f, retried on EINTR.
func flock(f *os.File, how int) error {
	fd := int(f.Fd())
	for {
		err := syscall.Flock(fd, how)
		if err != syscall.EINTR {
			return err
		}
	}
}
