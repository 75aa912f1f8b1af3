package file

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/hashicorp/go-hclog"
)

// maxProbeFiles bounds the session files kept open for probing.
const maxProbeFiles = 4096

// liveness tells whether a session owned by another process is alive: its
// owner holds flock(LOCK_EX) on the session file for as long as the session
// lives (the plugin that opened it and the host holding its anchor share
// that one lock), and the kernel drops that lock when every holder is gone.
// A probe takes LOCK_SH|LOCK_NB on a descriptor of its own: success means
// nobody holds the session, so it is dead; a missing file is dead too, and
// so is a locked file that is no longer at its path (a revoked session
// whose anchor has not been closed yet). Descriptors of live sessions are
// kept, so a repeated probe costs a flock and a stat.
type liveness struct {
	dir string
	log hclog.Logger

	mu   sync.Mutex
	open map[string]*probeFile
	// probes counts the probes made.
	count atomic.Int64
}

// probeFile is a kept descriptor of a session file and the file's identity.
type probeFile struct {
	f        *os.File
	dev, ino uint64
}

func newLiveness(dir string, log hclog.Logger) *liveness {
	return &liveness{dir: dir, log: log, open: map[string]*probeFile{}}
}

// alive probes session id. Uncertain answers (a file it may not open) count
// as alive: a live owner's entries must never be purged.
func (l *liveness) alive(id string) bool {
	if !validSessionID(id) {
		return false
	}
	path := filepath.Join(l.dir, id)
	l.count.Add(1)
	l.mu.Lock()
	defer l.mu.Unlock()
	p := l.open[id]
	if p == nil {
		f, err := os.Open(path)
		if errors.Is(err, fs.ErrNotExist) {
			return false
		}
		if err != nil {
			l.log.Warn("cannot probe session; treating it as alive", "session", id, "error", err)
			return true
		}
		dev, ino, err := fileID(f)
		if err != nil {
			_ = f.Close()
			l.log.Warn("cannot probe session; treating it as alive", "session", id, "error", err)
			return true
		}
		if len(l.open) >= maxProbeFiles {
			l.closeAllLocked()
		}
		p = &probeFile{f: f, dev: dev, ino: ino}
		l.open[id] = p
	}
	switch err := flock(p.f, syscall.LOCK_SH|syscall.LOCK_NB); {
	case err == nil:
		_ = p.f.Close()
		delete(l.open, id)
		return false
	case errors.Is(err, syscall.EWOULDBLOCK):
		if !atPath(path, p.dev, p.ino) {
			_ = p.f.Close()
			delete(l.open, id)
			return false
		}
		return true
	default:
		l.log.Warn("cannot probe session; treating it as alive", "session", id, "error", err)
		return true
	}
}

func (l *liveness) close() {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.closeAllLocked()
}

func (l *liveness) closeAllLocked() {
	for id, p := range l.open {
		_ = p.f.Close()
		delete(l.open, id)
	}
}

// fileID returns the device and inode of an open file.
func fileID(f *os.File) (dev, ino uint64, err error) {
	var st syscall.Stat_t
	if err := syscall.Fstat(int(f.Fd()), &st); err != nil {
		return 0, 0, err
	}
	return uint64(st.Dev), st.Ino, nil
}

// atPath reports whether the file at path is still the file (dev, ino):
// false once it was removed, or replaced. An error other than a missing
// file counts as still there.
func atPath(path string, dev, ino uint64) bool {
	var st syscall.Stat_t
	if err := syscall.Stat(path, &st); err != nil {
		return !errors.Is(err, syscall.ENOENT)
	}
	return uint64(st.Dev) == dev && st.Ino == ino
}

// staleNewAge is how old a session file still being created ("<id>.new")
// must be before a sweep removes it: its creator died before publishing it.
const staleNewAge = time.Minute

// sweep removes the files of dead sessions from the session directory.
// A published session file is locked before it gets its final name, so an
// unlocked one is dead for good and removing it is safe.
func (l *liveness) sweep(own func(string) bool) {
	ents, err := os.ReadDir(l.dir)
	if err != nil {
		l.log.Warn("cannot sweep session directory", "dir", l.dir, "error", err)
		return
	}
	for _, e := range ents {
		name := e.Name()
		path := filepath.Join(l.dir, name)
		if id, ok := strings.CutSuffix(name, ".new"); ok && validSessionID(id) {
			if info, err := e.Info(); err == nil && time.Since(info.ModTime()) > staleNewAge {
				_ = os.Remove(path)
			}
			continue
		}
		if !validSessionID(name) || own(name) {
			continue
		}
		f, err := os.Open(path)
		if err != nil {
			continue
		}
		if flock(f, syscall.LOCK_SH|syscall.LOCK_NB) == nil {
			_ = os.Remove(path)
		}
		_ = f.Close()
	}
}

// validSessionID reports whether id has the form of a session id: 32
// lower-case hex digits. Anything else cannot name a session file.
func validSessionID(id string) bool {
	if len(id) != 32 {
		return false
	}
	for i := 0; i < len(id); i++ {
		c := id[i]
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f') {
			return false
		}
	}
	return true
}
