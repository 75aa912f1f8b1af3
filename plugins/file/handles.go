package file

import (
	"context"
	"errors"
	"fmt"
	"os"
	"syscall"
	"time"

	"github.com/locksmithx/locksmith/sdk"
)

// A store keeps a state file open only while it is in use: by an operation
// in progress, by a watch, or because one of its own sessions holds an
// entry in it. Once none of these holds, the handle is idle; idle handles
// are closed after idleAfter, or sooner once more than maxIdle are idle,
// so a long-lived process's descriptors and memory stay flat however many
// resources it has touched. Closing an idle handle also removes the state
// file when its queue is empty and no process watches it (see evict).
//
// A file one of its own sessions holds an entry in stays open, for that
// session's next change (most often its release), while the store has at
// most maxOpen files open; beyond that such files are closed like idle
// ones, so that a process holding more locks than it may open files (10⁵
// against a limit of 20 000, say) still can.
const (
	defaultIdleAfter = time.Second
	maxIdle          = 64
)

// maxOpen is half the process's open-file limit (Go raises the soft limit
// to the hard one at start), at most 16384: the other half is left for
// sessions, connections and the files of operations in progress.
var maxOpen = func() int {
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err == nil && lim.Cur/2 < 16384 {
		return max(int(lim.Cur/2), maxIdle)
	}
	return 16384
}()

// errNoFile: the state file does not exist and the operation does not
// create one.
var errNoFile = errors.New("no state file")

// open returns this process's handle on resource's state file, counted as
// in use until doneWith. The file itself is opened by the first lock.
func (s *Store) open(resource string) (*stateFile, error) {
	if err := s.ready(); err != nil {
		return nil, err
	}
	path, err := s.cfg.statePath(resource)
	if err != nil {
		return nil, err
	}
	return s.openPath(path, resource)
}

// openPath is open for a known state file path.
func (s *Store) openPath(path, resource string) (*stateFile, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil, errClosed
	}
	sf := s.files[path]
	if sf == nil {
		sf = &stateFile{path: path, resource: resource, curSlot: -1, bell: s.bells}
		s.files[path] = sf
	}
	sf.users++
	delete(s.idle, sf)
	return sf, nil
}

// doneWith ends a use of sf begun by open. When that makes more than
// maxIdle handles idle, it closes the oldest before returning, so the
// bound holds however fast resources are touched.
func (s *Store) doneWith(sf *stateFile) {
	s.mu.Lock()
	sf.users--
	s.maybeIdle(sf)
	var oldest *stateFile
	if len(s.idle) > maxIdle {
		for c := range s.idle {
			if oldest == nil || c.idleSince.Before(oldest.idleSince) {
				oldest = c
			}
		}
		s.forgetLocked(oldest)
	}
	s.mu.Unlock()
	if oldest != nil {
		s.evict(oldest)
	}
}

// maybeIdle files sf as idle if nothing uses it. The caller holds s.mu.
func (s *Store) maybeIdle(sf *stateFile) {
	if sf.users > 0 || sf.watchers > 0 || sf.owned.Load() && len(s.files) <= maxOpen || s.files[sf.path] != sf || s.closed {
		return
	}
	sf.idleSince = time.Now()
	s.idle[sf] = struct{}{}
	select {
	case s.idled <- struct{}{}:
	default:
	}
}

// watching counts a watch of sf in or out. While sf has watches, its
// descriptor carries a presence mark that keeps other processes from
// removing the file.
func (s *Store) watching(sf *stateFile, delta int) {
	s.mu.Lock()
	sf.watchers += delta
	n := sf.watchers
	s.mu.Unlock()
	sf.mu.Lock()
	want := n > 0
	if want != sf.present && sf.f != nil {
		setPresence(sf.f, want)
	}
	sf.present = want
	sf.mu.Unlock()
	if n == 0 {
		s.mu.Lock()
		s.maybeIdle(sf)
		s.mu.Unlock()
	}
}

// janitor closes handles idle for idleAfter until stop is closed. It looks
// every idleAfter/2 while some handle is idle, and sleeps otherwise: a
// plugin whose process only waits (200 exec waiters are 200 plugins) is
// not woken twice a second for nothing.
func (s *Store) janitor(stop <-chan struct{}) {
	t := time.NewTimer(s.idleAfter / 2)
	t.Stop()
	armed := false
	for {
		if !armed && s.idleCount() > 0 {
			t.Reset(s.idleAfter / 2)
			armed = true
		}
		select {
		case <-stop:
			t.Stop()
			return
		case <-s.idled:
			continue
		case <-t.C:
			armed = false
		}
		s.janitorRounds.Add(1)
		for _, sf := range s.idleVictims(time.Now()) {
			s.evict(sf)
		}
	}
}

func (s *Store) idleCount() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.idle)
}

// idleVictims takes out of the store the handles idle for idleAfter.
func (s *Store) idleVictims(now time.Time) []*stateFile {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []*stateFile
	for sf := range s.idle {
		if now.Sub(sf.idleSince) >= s.idleAfter {
			out = append(out, sf)
		}
	}
	for _, sf := range out {
		s.forgetLocked(sf)
	}
	return out
}

// forgetLocked drops sf from the store's tables: a later open makes a new
// handle. Sessions of this process hold no entry in it (it was idle), so
// none needs to visit it when revoked. The caller holds s.mu.
func (s *Store) forgetLocked(sf *stateFile) {
	delete(s.idle, sf)
	if s.files[sf.path] == sf {
		delete(s.files, sf.path)
	}
	if sf.owned.Load() {
		// Its sessions' entries are still there: Revoke must visit it.
		return
	}
	for _, sess := range s.sessions {
		delete(sess.resources, sf.path)
	}
}

// evict closes sf's descriptor, first removing the state file when that is
// safe: its queue is empty (entries of dead sessions are purged first) and
// no process watches it. The floor is raised to the file's revision before
// the removal, so a new file for the resource starts above it. A file
// another process has locked right now is left for later; eviction never
// waits.
func (s *Store) evict(sf *stateFile) {
	sf.mu.Lock()
	defer sf.mu.Unlock()
	f := sf.f
	if f == nil {
		return
	}
	defer func() {
		_ = f.Close()
		sf.f, sf.cur, sf.buf, sf.present = nil, nil, nil, false
	}()
	if flock(f, syscall.LOCK_EX|syscall.LOCK_NB) != nil {
		return
	}
	if same, err := sameFile(f, sf.path); err != nil || !same {
		return
	}
	l, err := sf.load(s.env(), true)
	if err != nil || l.st == nil {
		return
	}
	// One live session's entry keeps the file: the probes stop at the
	// first live session, not after the whole queue. An exec ending with
	// 200 waiters behind it probed all 200 here, holding the lock the next
	// holder's plugin needed to read its grant.
	if s.anyAlive(l.st) {
		return
	}
	s.purge(l.st)
	if len(l.st.entries) > 0 || watchedElsewhere(f) {
		return
	}
	if err := s.floor.raise(l.st.rev); err != nil {
		s.log.Warn("keeping an empty state file: cannot raise the revision floor", "path", sf.path, "error", err)
		return
	}
	if err := os.Remove(sf.path); err != nil && !errors.Is(err, os.ErrNotExist) {
		s.log.Debug("cannot remove an empty state file", "path", sf.path, "error", err)
	}
}

// anyAlive reports whether a session of st's entries is alive, probing them
// in queue order until one is.
func (s *Store) anyAlive(st *state) bool {
	for _, id := range st.sessions() {
		if s.aliveWithin(id, s.cfg.probeInterval) {
			return true
		}
	}
	return false
}

// lockState takes sf.mu, then flock(how) on the state file, (re)opening the
// file as needed: after the flock, the descriptor must still be the file at
// the path (device and inode), else another process removed it, and the
// lock is taken again on what the path holds now. Without create, a
// missing file gives errNoFile. On error neither lock is held.
func (s *Store) lockState(ctx context.Context, sf *stateFile, how int, create bool) error {
	for range 100 {
		if err := s.closedErr(); err != nil {
			return err
		}
		sf.mu.Lock()
		if sf.f == nil {
			f, err := openStateFile(sf.path, sf.resource, create)
			if err != nil {
				sf.mu.Unlock()
				return err
			}
			dev, ino, err := fileID(f)
			if err != nil {
				_ = f.Close()
				sf.mu.Unlock()
				return fmt.Errorf("stat %s: %w", sf.path, err)
			}
			sf.f, sf.cur, sf.dev, sf.ino = f, nil, dev, ino
			if sf.present {
				setPresence(f, true)
			}
		}
		if err := lockFile(ctx, sf.f, how, sf.mu.Unlock); err != nil {
			return s.lockErr(err)
		}
		same, err := atSamePath(sf.path, sf.dev, sf.ino)
		if err != nil {
			sf.unlock()
			return err
		}
		if same {
			return nil
		}
		unlockFile(sf.f)
		_ = sf.f.Close()
		sf.f, sf.cur = nil, nil
		sf.mu.Unlock()
	}
	return sdk.Errorf(sdk.CodeUnavailable, "lock state file %s: it keeps being replaced", sf.path)
}

// openStateFile opens (or creates) a state file. Failures no retry fixes
// get a permanent code.
func openStateFile(path, resource string, create bool) (*os.File, error) {
	flags := os.O_RDWR
	if create {
		flags |= os.O_CREATE
	}
	f, err := os.OpenFile(path, flags, 0o666)
	switch {
	case err == nil:
		return f, nil
	case !create && errors.Is(err, os.ErrNotExist):
		return nil, errNoFile
	case errors.Is(err, os.ErrNotExist):
		return nil, sdk.Errorf(sdk.CodeInvalidArgument, "resource %s: create state file %s: its directory does not exist", resource, path)
	}
	return nil, fmt.Errorf("resource %s: %w", resource, openErr("state file", path, err))
}

// sameFile reports whether f is still the file at path.
func sameFile(f *os.File, path string) (bool, error) {
	dev, ino, err := fileID(f)
	if err != nil {
		return false, fmt.Errorf("stat %s: %w", path, err)
	}
	return atSamePath(path, dev, ino)
}

// atSamePath reports whether the file at path is still the file (dev,
// ino), the identity of a descriptor taken when it was opened: an open
// file's device and inode never change, so one stat of the path tells.
func atSamePath(path string, dev, ino uint64) (bool, error) {
	var b syscall.Stat_t
	switch err := syscall.Stat(path, &b); {
	case errors.Is(err, syscall.ENOENT):
		return false, nil
	case err != nil:
		return false, fmt.Errorf("resource state %s: %w", path, openErr("state file", path, err))
	}
	return uint64(b.Dev) == dev && b.Ino == ino, nil
}
