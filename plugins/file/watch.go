package file

import (
	"context"
	"sync"
	"time"

	"github.com/fsnotify/fsnotify"
	"github.com/hashicorp/go-hclog"

	"github.com/locksmithx/locksmith/sdk"
)

// Watch delivers every change of resource with a revision >= fromRev, in
// order, until ctx ends, send fails or the store does. It creates the
// resource's state file if there is none.
//
// A watch wakes up on an inotify event of the state file (one fsnotify
// watcher per process, fanned out to every watch), on a change made by this
// process, and at the latest every poll_interval. While the resource has
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
	// The file must exist to be subscribed to.
	if err := s.view(ctx, sf, true, func(*state) {}); err != nil {
		return err
	}
	stop := s.notes.subscribe(sf)
	defer stop()

	next := max(fromRev, 1)
	probe := time.NewTicker(s.cfg.probeInterval)
	defer probe.Stop()
	var (
		events   []sdk.Event
		foreign  bool
		lastRead time.Time
	)
	for {
		wake := sf.changed()
		var compacted bool
		err := s.view(ctx, sf, true, func(st *state) {
			if next < st.compact && next <= st.rev {
				compacted = true
				return
			}
			events = st.eventsFrom(next)
			foreign = s.anyForeign(st)
		})
		if err != nil {
			return err
		}
		if compacted {
			return sdk.Errorf(sdk.CodeCompacted, "watch %s from revision %d: history was compacted; range again", resource, next)
		}
		lastRead = time.Now()
		for _, ev := range events {
			if err := send(ev); err != nil {
				return err
			}
			next = ev.Rev + 1
		}
		events = nil
		if err := s.waitChange(ctx, wake, probe.C, foreign, lastRead); err != nil {
			return err
		}
	}
}

// waitChange blocks until the state file may have changed: a wake-up, a
// probe tick when the resource has entries of other processes (whose
// liveness the next read probes), or poll_interval since the last read.
func (s *Store) waitChange(ctx context.Context, wake <-chan struct{}, tick <-chan time.Time, foreign bool, lastRead time.Time) error {
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-wake:
			return s.closedErr()
		case <-tick:
			if foreign || time.Since(lastRead) >= s.cfg.pollInterval {
				return s.closedErr()
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

// anyForeign reports whether some entry belongs to a session this process
// does not own.
func (s *Store) anyForeign(st *state) bool {
	for _, id := range st.sessions() {
		if own, _ := s.ownAlive(id); !own {
			return true
		}
	}
	return false
}

// notifier fans the inotify events of state files out to their watches.
// It keeps one fsnotify watcher per process, created on first use, and
// watches a state file while at least one watch needs it.
type notifier struct {
	log hclog.Logger

	mu     sync.Mutex
	w      *fsnotify.Watcher
	failed bool
	refs   map[string]int
	files  map[string]*stateFile
	done   chan struct{}
}

func newNotifier(log hclog.Logger) *notifier {
	return &notifier{log: log, refs: map[string]int{}, files: map[string]*stateFile{}}
}

// subscribe makes sf's changes wake its watches until the returned func is
// called. Without inotify, watches fall back to polling.
func (n *notifier) subscribe(sf *stateFile) (unsubscribe func()) {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.w == nil && !n.failed {
		w, err := fsnotify.NewWatcher()
		if err != nil {
			n.failed = true
			n.log.Warn("no change notifications; watches will poll", "error", err)
		} else {
			n.w, n.done = w, make(chan struct{})
			go n.run(w, n.done)
		}
	}
	if n.w != nil && n.refs[sf.path] == 0 {
		if err := n.w.Add(sf.path); err != nil {
			n.log.Warn("cannot watch state file; its watches will poll", "path", sf.path, "error", err)
		}
		n.files[sf.path] = sf
	}
	n.refs[sf.path]++
	return func() {
		n.mu.Lock()
		defer n.mu.Unlock()
		n.refs[sf.path]--
		if n.refs[sf.path] > 0 {
			return
		}
		delete(n.refs, sf.path)
		delete(n.files, sf.path)
		if n.w != nil {
			_ = n.w.Remove(sf.path)
		}
	}
}

func (n *notifier) run(w *fsnotify.Watcher, done chan struct{}) {
	defer close(done)
	for {
		select {
		case ev, ok := <-w.Events:
			if !ok {
				return
			}
			n.mu.Lock()
			sf := n.files[ev.Name]
			n.mu.Unlock()
			if sf != nil {
				sf.notify()
			}
		case err, ok := <-w.Errors:
			if !ok {
				return
			}
			n.log.Warn("change notifications", "error", err)
		}
	}
}

// close stops the fsnotify watcher and waits for its goroutine.
func (n *notifier) close() {
	n.mu.Lock()
	w, done := n.w, n.done
	n.w, n.failed = nil, true
	n.mu.Unlock()
	if w != nil {
		_ = w.Close()
		<-done
	}
}
