package pidwatch

import (
	"errors"
	"fmt"
	"os"
	"sync"

	"golang.org/x/sys/unix"
)

func start(pid int) (*Watch, error) {
	fd, err := unix.PidfdOpen(pid, unix.O_NONBLOCK)
	switch {
	case errors.Is(err, unix.ESRCH):
		return nil, fmt.Errorf("pidwatch %d: %w", pid, os.ErrProcessDone)
	case errors.Is(err, unix.ENOSYS), errors.Is(err, unix.EPERM), errors.Is(err, unix.EINVAL):
		return nil, fmt.Errorf("pidwatch %d: %w (%v)", pid, ErrUnsupported, err)
	case err != nil:
		return nil, fmt.Errorf("pidwatch %d: %w", pid, err)
	}
	// A non-blocking descriptor becomes a pollable *os.File: its wait is
	// the runtime's netpoller, with no thread of its own.
	f := os.NewFile(uintptr(fd), fmt.Sprintf("pidfd:%d", pid))
	rc, err := f.SyscallConn()
	if err != nil {
		_ = f.Close()
		return nil, fmt.Errorf("pidwatch %d: %w", pid, err)
	}
	w := &Watch{done: make(chan struct{})}
	var once sync.Once
	closeDone := func() { once.Do(func() { close(w.done) }) }
	w.stop = func() {
		_ = f.Close() // ends the Read below with an error
		closeDone()
	}
	go func() {
		defer closeDone()
		_ = rc.Read(func(fd uintptr) bool {
			fds := []unix.PollFd{{Fd: int32(fd), Events: unix.POLLIN}}
			n, err := unix.Poll(fds, 0)
			return err != nil && !errors.Is(err, unix.EINTR) || n > 0
		})
	}()
	return w, nil
}
