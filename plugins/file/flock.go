package file

import (
	"context"
	"errors"
	"os"
	"syscall"
)

// lockFile takes flock(how) on f (syscall.LOCK_EX or syscall.LOCK_SH).
// An uncontended lock costs one system call. A contended one blocks in a
// helper goroutine, so that the wait honours ctx and a release elsewhere
// wakes it at once (no polling: Go's timers are too coarse for waits of
// microseconds).
//
// On success the caller holds the lock. On error lockFile calls abandon,
// either at once or, when ctx ended while the helper still waits, later
// from the helper once it got and dropped the lock. The caller must not
// release what abandon releases (a mutex guarding f, or f itself).
func lockFile(ctx context.Context, f *os.File, how int, abandon func()) error {
	err := flock(f, how|syscall.LOCK_NB)
	if err == nil {
		return nil
	}
	if !errors.Is(err, syscall.EWOULDBLOCK) {
		abandon()
		return &os.PathError{Op: "flock", Path: f.Name(), Err: err}
	}
	if err := ctx.Err(); err != nil {
		abandon()
		return err
	}
	done := make(chan error, 1)
	go func() { done <- flock(f, how) }()
	select {
	case err := <-done:
		if err != nil {
			abandon()
			return &os.PathError{Op: "flock", Path: f.Name(), Err: err}
		}
		return nil
	case <-ctx.Done():
		go func() {
			if <-done == nil {
				unlockFile(f)
			}
			abandon()
		}()
		return ctx.Err()
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

// unlock releases what Store.lockState took, then wakes the watches of a
// change made under it: after the release, so that a woken reader does
// not find the file still locked.
func (sf *stateFile) unlock() {
	unlockFile(sf.f)
	wake, all, keys := sf.pendingWake, sf.pendingAll, sf.pendingKeys
	sf.pendingWake, sf.pendingAll, sf.pendingKeys = false, false, nil
	sf.mu.Unlock()
	if wake {
		sf.notify()
		sf.notifyKeys(keys, all)
		sf.bell.ring(sf.path)
		for _, k := range keys {
			sf.bell.ring(keyWord(sf.path, k))
		}
		if all {
			sf.bell.ring(everyWord(sf.path))
		}
	}
}
