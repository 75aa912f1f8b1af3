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
// wakeTable), and at the latest every poll_interval (a safety net; see
// pollEvery). A watch whose context
// names keys (sdk.WakeOn: a waiter's own entry and the one it queues
// behind) wakes only when one of those keys changes: the commit rings a
// word of each key it touched besides the file's, so n processes queued on
// one resource are woken one at a time, not n at a time. What it wakes to
// is still every change since the last delivery, in order.
//
// While the entries a watch waits behind belong to other processes'
// sessions (the head of the queue, or the keys it names), it waits for
// those sessions to end with a parked flock (see deathWatch), or probes
// them every probe_interval where it cannot park; a dead one is purged at
// once, which the watch then delivers as delete events. So a holder killed
// with SIGKILL is seen gone at once, with no TTL wait.
func (s *Store) Watch(ctx context.Context, resource string, fromRev int64, send func(sdk.Event) error) error {
	sf, err := s.open(resource)
	if err != nil {
		return err
	}
	defer s.doneWith(sf)
	s.watching(sf, 1)
	defer s.watching(sf, -1)

	keys := sdk.WakeOn(ctx)
	spec := probeSpec{limit: probeHead, maxAge: s.cfg.probeInterval}
	var kick chan struct{}
	if len(keys) > 0 {
		kick = make(chan struct{}, 1)
		defer sf.watchKeys(keys, kick)()
		defer s.bells.subscribeKeys(sf, keys)()
		spec = probeSpec{keys: keys, maxAge: s.cfg.probeInterval}
	} else {
		defer s.bells.subscribe(sf)()
	}

	next := max(fromRev, 1)
	var (
		events []sdk.Event
		// head is the sessions of other processes the watch waits behind,
		// as last read: what it waits to end.
		head []string
	)
	for {
		wake := (<-chan struct{})(kick)
		if kick == nil {
			wake = sf.changed()
		}
		var compacted bool
		var decodeErr error
		err := s.viewProbing(ctx, sf, true, spec, func(st *state) {
			if next < st.compact && next <= st.rev {
				compacted = true
				return
			}
			events, decodeErr = st.eventsFrom(next)
			head = s.foreign(st, spec, head[:0])
		})
		if err != nil {
			return err
		}
		if decodeErr != nil {
			return sdk.Errorf(sdk.CodeCorrupt, "watch %s: the event history in memory does not decode: %v", resource, decodeErr)
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
		if err := s.waitChange(ctx, wake, head); err != nil {
			return err
		}
	}
}

// foreign appends to out the sessions of other processes that spec names
// among st's entries, in queue order: the first probeHead distinct ones,
// or those of the entries with spec's keys.
func (s *Store) foreign(st *state, spec probeSpec, out []string) []string {
	ids := st.sessionsOf(spec.keys)
	if spec.keys == nil {
		ids = st.sessions()
	}
	for _, id := range ids {
		if spec.keys == nil && len(out) == probeHead {
			break
		}
		if own, _ := s.ownAlive(id); !own {
			out = append(out, id)
		}
	}
	return out
}

// waitChange blocks until the state file may have changed: a wake-up, the
// end of a session of head (the next read purges its entries), or
// poll_interval since the wait began. The ends of head's sessions are
// events (parked flocks); a session it cannot park on is probed every
// probe_interval, a probe that finds it alive costing no read of the state
// file.
func (s *Store) waitChange(ctx context.Context, wake <-chan struct{}, head []string) error {
	poll := time.NewTimer(s.pollEvery())
	defer poll.Stop()
	bell := s.deathBell()
	var tick <-chan time.Time
	for _, id := range head {
		if !s.park(id) && tick == nil {
			t := time.NewTicker(s.cfg.probeInterval)
			defer t.Stop()
			tick = t.C
		}
	}
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-wake:
			return s.closedErr()
		case <-poll.C:
			return s.closedErr()
		case <-bell:
			bell = s.deathBell()
		case <-tick:
		}
		for _, id := range head {
			if !s.aliveWithin(id, 0) {
				return s.closedErr()
			}
		}
	}
}

// fallbackPoll is the longest a watch goes without re-reading where changes
// are not events.
const fallbackPoll = 250 * time.Millisecond

// pollEvery is how long a watch waits at most before reading again:
// poll_interval, a safety net, while wake-ups work; at most fallbackPoll
// where they do not (then the re-read is how a watch sees other processes'
// changes).
func (s *Store) pollEvery() time.Duration {
	if s.bells.working() {
		return s.cfg.pollInterval
	}
	return min(s.cfg.pollInterval, fallbackPoll)
}

func (s *Store) closedErr() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return errClosed
	}
	return nil
}
