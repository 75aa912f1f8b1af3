package file

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"sync"
	"syscall"
	"time"
)

// probeHead is how many distinct sessions at the head of a queue a watch
// probes on each wake-up. Whoever waits, waits for the head to go; a dead
// entry further back is purged by the next change (every change purges
// all), or when it reaches the head. Probing only the head keeps the cost
// of n processes waiting on one resource at O(n) probes per wake-up, not
// O(n²).
const probeHead = 4

// maxSeenAlive bounds the sessions remembered alive.
const maxSeenAlive = 4096

// seenAlive remembers when sessions of other processes were last probed
// alive, so that checks within probe_interval of a probe cost no system
// call. Trusting an alive answer for that long only delays a purge by as
// much (the documented bound); it never lets a dead owner's entry be
// taken for live beyond it.
type seenAlive struct {
	mu sync.Mutex
	at map[string]time.Time
}

// aliveWithin reports whether session id is alive, trusting a probe that
// found it alive less than maxAge ago (0: probe now).
func (s *Store) aliveWithin(id string, maxAge time.Duration) bool {
	if own, alive := s.ownAlive(id); own {
		return alive
	}
	now := time.Now()
	s.seen.mu.Lock()
	at, ok := s.seen.at[id]
	s.seen.mu.Unlock()
	if ok && now.Sub(at) < maxAge {
		return true
	}
	alive := s.probes.alive(id)
	s.seen.mu.Lock()
	defer s.seen.mu.Unlock()
	if s.seen.at == nil || len(s.seen.at) >= maxSeenAlive {
		s.seen.at = map[string]time.Time{}
	}
	if alive {
		s.seen.at[id] = now
	} else {
		delete(s.seen.at, id)
	}
	return alive
}

// probeSpec says which entries' sessions a view checks: the first limit
// distinct ones (-1: all), or with keys those of the entries keys names;
// trusting probes younger than maxAge.
type probeSpec struct {
	limit  int
	keys   []string
	maxAge time.Duration
}

// anyDead reports whether a session st's entries belong to, among those
// spec names, is dead.
func (s *Store) anyDead(st *state, spec probeSpec) bool {
	if spec.keys != nil {
		for _, id := range st.sessionsOf(spec.keys) {
			if !s.aliveWithin(id, spec.maxAge) {
				return true
			}
		}
		return false
	}
	for i, id := range st.sessions() {
		if spec.limit >= 0 && i >= spec.limit {
			return false
		}
		if !s.aliveWithin(id, spec.maxAge) {
			return true
		}
	}
	return false
}

// maxParked bounds the sessions whose death this process waits for with a
// parked flock (each holds a thread blocked in the kernel until then).
// Past it, watches probe every probe_interval instead.
const maxParked = 128

// deathWatch is this process's parked waits for other processes' sessions
// to end. A parked wait is a blocking flock(LOCK_SH) on the session file,
// which the kernel grants the moment the session's last holder lets go
// (its owner and the host's anchor, whether by exit or by close): the
// death is then an event, where a probe tick would wake every waiting
// process every probe_interval to look. A parked wait cannot be called
// off, so it lasts until the session ends (or the process does) even when
// nobody waits behind it any more; maxParked bounds them.
type deathWatch struct {
	mu     sync.Mutex
	parked map[string]bool
	// bell is closed, and replaced, when a parked session ends.
	bell chan struct{}
}

// deathBell returns the channel closed at the next end of a parked
// session.
func (s *Store) deathBell() <-chan struct{} {
	d := &s.deaths
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.bell == nil {
		d.bell = make(chan struct{})
	}
	return d.bell
}

// park makes the end of session id ring deathBell. It reports false when
// it cannot (too many parked, or the file cannot be opened): the caller
// probes instead. A session that is already gone rings at once.
func (s *Store) park(id string) bool {
	if !validSessionID(id) {
		return false
	}
	d := &s.deaths
	d.mu.Lock()
	if d.parked[id] {
		d.mu.Unlock()
		return true
	}
	if len(d.parked) >= maxParked {
		d.mu.Unlock()
		return false
	}
	if d.parked == nil {
		d.parked = map[string]bool{}
	}
	d.parked[id] = true
	d.mu.Unlock()
	f, err := os.Open(filepath.Join(s.cfg.sessionDir, id))
	if err != nil {
		d.mu.Lock()
		delete(d.parked, id)
		d.mu.Unlock()
		if errors.Is(err, fs.ErrNotExist) {
			s.ended(id)
			return true
		}
		return false
	}
	go func() {
		// Blocks until no one holds the session's lock: it is over.
		err := flock(f, syscall.LOCK_SH)
		_ = f.Close()
		d.mu.Lock()
		delete(d.parked, id)
		d.mu.Unlock()
		if err == nil {
			s.ended(id)
		}
	}()
	return true
}

// ended forgets that session id was seen alive and rings the death bell.
func (s *Store) ended(id string) {
	s.seen.mu.Lock()
	delete(s.seen.at, id)
	s.seen.mu.Unlock()
	d := &s.deaths
	d.mu.Lock()
	if d.bell != nil {
		close(d.bell)
		d.bell = nil
	}
	d.mu.Unlock()
}
