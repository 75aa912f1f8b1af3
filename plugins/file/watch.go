package file

import (
	"context"
	"time"

	"github.com/locksmithx/locksmith/sdk"
)

// Watch delivers every change of resource with a revision >= fromRev, in
// order, until ctx ends, send fails or the store does. It creates the
// resource's state file if there is none.
//
// A watch wakes up when any process commits a change of the state file
// (through a futex word shared by every process of the machine, see
// wakeTable), and at the latest every poll_interval. While the resource has
// entries of other processes' sessions, it probes their liveness every
// probe_interval; a dead one is purged at once, which the watch then
// delivers as delete events. So a holder killed with SIGKILL is seen gone
// within about probe_interval, with no TTL wait.
func (s *Store) Watch(ctx context.Context, resource string, fromRev int64, send func(sdk.Event) error) error {
	sf, err := s.open(resource)
	if err != nil {
		return err
	}
	defer s.doneWith(sf)
	s.watching(sf, 1)
	defer s.watching(sf, -1)
	stop := s.bells.subscribe(sf)
	defer stop()

	next := max(fromRev, 1)
	probe := time.NewTicker(s.cfg.probeInterval)
	defer probe.Stop()
	var (
		events []sdk.Event
		// head is the sessions of other processes at the head of the
		// queue, as last read: what a probe tick checks.
		head []string
	)
	spec := probeSpec{limit: probeHead, maxAge: s.cfg.probeInterval}
	for {
		wake := sf.changed()
		var compacted bool
		err := s.viewProbing(ctx, sf, true, spec, func(st *state) {
			if next < st.compact && next <= st.rev {
				compacted = true
				return
			}
			events = st.eventsFrom(next)
			head = s.foreignHead(st, head[:0])
		})
		if err != nil {
			return err
		}
		if compacted {
			return sdk.Errorf(sdk.CodeCompacted, "watch %s from revision %d: history was compacted; range again", resource, next)
		}
		for _, ev := range events {
			if err := send(ev); err != nil {
				return err
			}
			next = ev.Rev + 1
		}
		events = nil
		if err := s.waitChange(ctx, wake, probe.C, head); err != nil {
			return err
		}
	}
}

// foreignHead appends to out the first probeHead distinct sessions of
// other processes among st's entries, in queue order.
func (s *Store) foreignHead(st *state, out []string) []string {
	for _, id := range st.sessions() {
		if len(out) == probeHead {
			break
		}
		if own, _ := s.ownAlive(id); !own {
			out = append(out, id)
		}
	}
	return out
}

// waitChange blocks until the state file may have changed: a wake-up, a
// probe tick that finds a session of head dead (the next read purges its
// entries), or poll_interval since the wait began. A tick that finds the
// head alive costs one probe per session, and no read of the state file.
func (s *Store) waitChange(ctx context.Context, wake <-chan struct{}, tick <-chan time.Time, head []string) error {
	poll := time.NewTimer(s.cfg.pollInterval)
	defer poll.Stop()
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-wake:
			return s.closedErr()
		case <-poll.C:
			return s.closedErr()
		case <-tick:
			for _, id := range head {
				if !s.aliveWithin(id, 0) {
					return s.closedErr()
				}
			}
		}
	}
}

func (s *Store) closedErr() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return errClosed
	}
	return nil
}
