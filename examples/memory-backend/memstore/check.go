package memstore

import (
	"context"
	"fmt"

	"github.com/locksmithx/locksmith/sdk"
)

// Check reports entries whose session is gone and entries whose revisions
// are out of order, in one resource or ("") all of them.
func (s *Store) Check(_ context.Context, resource string) ([]sdk.Problem, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.usable(); err != nil {
		return nil, err
	}
	return s.inspect(resource, false), nil
}

// Repair removes the entries Check reports, each as a change Watch sees.
func (s *Store) Repair(_ context.Context, resource string) ([]sdk.Problem, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.usable(); err != nil {
		return nil, err
	}
	return s.inspect(resource, true), nil
}

// inspect finds, and with repair removes, damaged entries. s.mu is held.
func (s *Store) inspect(resource string, repair bool) []sdk.Problem {
	names := []string{resource}
	if resource == "" {
		names = sortedKeys(s.resources)
	}
	var problems []sdk.Problem
	for _, name := range names {
		r, ok := s.resources[name]
		if !ok {
			continue
		}
		for _, key := range sortedKeys(r.entries) {
			e := r.entries[key]
			msg := ""
			if sess, ok := s.sessions[e.Session]; !ok {
				msg = fmt.Sprintf("entry of ended session %q", e.Session)
			} else if _, linked := sess.keys[name][key]; !linked {
				msg = fmt.Sprintf("entry not owned by its session %q", e.Session)
			} else if e.CreateRev > e.ModRev || e.ModRev > r.rev {
				msg = fmt.Sprintf("revisions out of order: create %d, mod %d, resource %d", e.CreateRev, e.ModRev, r.rev)
			}
			if msg == "" {
				continue
			}
			p := sdk.Problem{Resource: name, Path: name + " " + key, Message: msg}
			if repair {
				if sess, ok := s.sessions[e.Session]; ok {
					sess.unlink(name, key)
				}
				r.remove(key, s.history)
				p.Repaired = true
			}
			problems = append(problems, p)
		}
	}
	return problems
}
