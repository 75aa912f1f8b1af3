// Package pidwatch tells when a process exits without polling for it:
// on Linux through a pidfd, which becomes readable when the process ends
// (whether or not anyone has reaped it yet). A waiting process is then
// asleep until that moment, instead of waking every few milliseconds to
// look.
package pidwatch

import (
	"errors"
	"os"
)

// ErrUnsupported: this system cannot tell a process's exit by an event;
// the caller polls instead.
var ErrUnsupported = errors.New("pidwatch: process exit events are not supported here")

// Watch is the exit of one process, as seen from this one.
type Watch struct {
	done chan struct{}
	stop func()
}

// Done is closed once the process has exited (or the watch was stopped).
func (w *Watch) Done() <-chan struct{} { return w.done }

// Stop ends the watch and frees what it holds. It is safe to call more
// than once, and after the process exited.
func (w *Watch) Stop() { w.stop() }

// Start watches process pid. The caller must know that pid names the
// process it means at the time of the call (its own child not yet reaped,
// or its parent while os.Getppid still returns it): a pid already gone
// gives an error wrapping os.ErrProcessDone.
func Start(pid int) (*Watch, error) {
	if pid <= 0 {
		return nil, os.ErrProcessDone
	}
	return start(pid)
}
