package file

import (
	"sync"
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
// distinct ones (-1: all), trusting probes younger than maxAge.
type probeSpec struct {
	limit  int
	maxAge time.Duration
}

// anyDead reports whether a session st's entries belong to, among those
// spec names, is dead.
func (s *Store) anyDead(st *state, spec probeSpec) bool {
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
