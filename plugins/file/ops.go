package file

import (
	"context"
	"errors"
	"slices"
	"syscall"

	"github.com/locksmithx/locksmith/sdk"
)

// modify runs fn on resource's current state under the state file's
// exclusive flock and commits the result. Before fn, it removes the entries
// of dead sessions among the queue's first limit sessions (-1: all; each
// removal a delete event). fn reports whether it changed the state; it
// must not change anything when it returns an error. A missing state file
// has nothing to change: modify does not create it.
//
// modify is how a session's revocation visits the state files it holds
// entries in, which it does not open: once they are gone, the handle may
// turn idle here.
func (s *Store) modify(ctx context.Context, sf *stateFile, limit int, fn func(st *state) (bool, error)) error {
	err := s.changeProbing(ctx, sf, false, limit, fn)
	s.mu.Lock()
	s.maybeIdle(sf)
	s.mu.Unlock()
	if errors.Is(err, errNoFile) {
		return nil
	}
	return err
}

// change is modify; with create, a missing state file is created, without
// it change returns errNoFile.
func (s *Store) change(ctx context.Context, sf *stateFile, create bool, fn func(st *state) (bool, error)) error {
	return s.changeProbing(ctx, sf, create, -1, fn)
}

// headProbe is how many of a queue's first sessions a change that reports
// no entries (a Delete without WithRange, an Update) checks for death
// before it applies. Whom the queue grants next is decided at its head;
// an entry of a dead session further back blocks only the waiters behind
// it, and the waiter right behind it watches that session and purges the
// entry when it dies, as every full read (Range, a listing, a change that
// reports entries, Check) does. Probing all of a queue of 200 sessions on
// each release was 400 system calls, in the way from a release to the
// next grant.
const headProbe = 8

// changeProbing is change purging the entries of dead sessions among the
// queue's first limit distinct sessions (-1: all).
func (s *Store) changeProbing(ctx context.Context, sf *stateFile, create bool, limit int, fn func(st *state) (bool, error)) error {
	if err := s.lockState(ctx, sf, syscall.LOCK_EX, create); err != nil {
		return err
	}
	defer sf.unlock()
	l, err := sf.load(s.env(), true)
	if err != nil {
		return err
	}
	st := l.st
	if err := s.checkSessionDir(sf, st); err != nil {
		return err
	}
	dirty := l.dirty
	if len(st.entries) == 0 && (st.sessionDir != s.cfg.sessionDir || st.resource == "") {
		st.sessionDir, st.resource = s.cfg.sessionDir, sf.resource
		dirty = true
	}
	if s.purgeFirst(st, limit) {
		dirty = true
	}
	var fnErr error
	if fn != nil {
		changed, err := fn(st)
		fnErr = err
		dirty = dirty || changed
	}
	if dirty {
		if err := sf.commit(st); err != nil {
			return err
		}
	}
	sf.owned.Store(s.ownsEntry(st))
	return fnErr
}

// view runs fn on resource's current state under a shared flock. When the
// state holds entries of dead sessions, or needs initialising, it purges
// them under the exclusive lock first, so fn never sees a dead entry. fn
// must not keep or change st. With create, a missing state file is
// created; without it, view returns errNoFile.
func (s *Store) view(ctx context.Context, sf *stateFile, create bool, fn func(st *state)) error {
	return s.viewProbing(ctx, sf, create, probeSpec{limit: -1, maxAge: s.cfg.probeInterval}, fn)
}

// viewProbing is view checking the sessions spec names for death.
func (s *Store) viewProbing(ctx context.Context, sf *stateFile, create bool, spec probeSpec, fn func(st *state)) error {
	done, err := s.tryView(ctx, sf, create, spec, fn)
	if done || err != nil {
		return err
	}
	return s.change(ctx, sf, create, func(st *state) (bool, error) { fn(st); return false, nil })
}

// tryView is view under the shared lock; done is false when the state needs
// the exclusive lock first.
func (s *Store) tryView(ctx context.Context, sf *stateFile, create bool, spec probeSpec, fn func(st *state)) (done bool, err error) {
	if err := s.lockState(ctx, sf, syscall.LOCK_SH, create); err != nil {
		return false, err
	}
	defer sf.unlock()
	l, err := sf.load(s.env(), false)
	if err != nil || l.needExclusive {
		return false, err
	}
	if err := s.checkSessionDir(sf, l.st); err != nil {
		return false, err
	}
	if s.anyDead(l.st, spec) {
		return false, nil
	}
	fn(l.st)
	sf.owned.Store(s.ownsEntry(l.st))
	return true, nil
}

// ownsEntry reports whether a live session of this process holds an entry
// in st.
func (s *Store) ownsEntry(st *state) bool {
	for _, id := range st.sessions() {
		if own, alive := s.ownAlive(id); own && alive {
			return true
		}
	}
	return false
}

// lockErr reports a failed flock, as errClosed once the store is closed.
func (s *Store) lockErr(err error) error {
	s.mu.Lock()
	closed := s.closed
	s.mu.Unlock()
	if closed {
		return errClosed
	}
	return err
}

// checkSessionDir refuses a state whose entries belong to sessions in
// another session directory: this process could not see them alive and
// would purge live entries.
func (s *Store) checkSessionDir(sf *stateFile, st *state) error {
	if len(st.entries) > 0 && st.sessionDir != s.cfg.sessionDir {
		return sdk.Errorf(sdk.CodeInvalidConfig, "state file %s holds entries of sessions in %s, but this store's session_dir is %s: every process sharing a resource must use the same session_dir",
			sf.path, st.sessionDir, s.cfg.sessionDir)
	}
	return nil
}

// purge removes the entries of dead sessions and reports whether it removed
// any.
func (s *Store) purge(st *state) bool { return s.purgeFirst(st, -1) }

// purgeFirst is purge checking only the first limit distinct sessions of
// the queue (-1: all).
func (s *Store) purgeFirst(st *state, limit int) bool {
	var dead map[string]bool
	for i, id := range st.sessions() {
		if limit >= 0 && i >= limit {
			break
		}
		if !s.aliveWithin(id, s.cfg.probeInterval) {
			if dead == nil {
				dead = map[string]bool{}
			}
			dead[id] = true
		}
	}
	if dead == nil {
		return false
	}
	st.removeIf(func(id string) bool { return dead[id] })
	return true
}

// Put creates or replaces an entry owned by one of this process's sessions.
func (s *Store) Put(ctx context.Context, req sdk.PutRequest) (sdk.PutResult, error) {
	if req.Key == "" {
		return sdk.PutResult{}, sdk.Errorf(sdk.CodeInvalidArgument, "put: key is empty")
	}
	sf, err := s.open(req.Resource)
	if err != nil {
		return sdk.PutResult{}, err
	}
	defer s.doneWith(sf)
	var res sdk.PutResult
	err = s.change(ctx, sf, true, func(st *state) (bool, error) {
		if i := st.find(req.Key); i >= 0 && req.IfAbsent {
			return false, sdk.Errorf(sdk.CodeExists, "put %s in %s: entry exists", req.Key, req.Resource)
		}
		if !s.enlist(req.Session, sf) {
			return false, sdk.Errorf(sdk.CodeSessionExpired, "put %s in %s: session %s is not open", req.Key, req.Resource, req.Session)
		}
		e := st.put(req.Key, req.Session, clone(req.Value))
		res = sdk.PutResult{CreateRev: e.CreateRev, ModRev: e.ModRev, Rev: st.rev}
		if req.WithRange {
			res.Entries = st.cloneEntries()
		}
		return true, nil
	})
	return res, err
}

// enlist records that session id has entries in sf, so that revoking it
// visits sf; it reports false when id is not a live session of this
// process.
func (s *Store) enlist(id string, sf *stateFile) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	sess := s.sessions[id]
	if sess == nil || sess.ended {
		return false
	}
	sess.resources[sf.path] = sf.resource
	return true
}

// unlist undoes enlist once session id has no entry left in sf, so that
// revoking it does not visit sf. Like enlist, it runs under sf's exclusive
// flock, so no put of the session into sf comes between the check and it.
func (s *Store) unlist(id string, sf *stateFile) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if sess := s.sessions[id]; sess != nil {
		delete(sess.resources, sf.path)
	}
}

// Update replaces an entry's value if its ModRev is req.ExpectRev and, when
// req.ExpectResourceRev is set, the resource is still at that revision.
func (s *Store) Update(ctx context.Context, req sdk.UpdateRequest) (sdk.UpdateResult, error) {
	sf, err := s.open(req.Resource)
	if err != nil {
		return sdk.UpdateResult{}, err
	}
	defer s.doneWith(sf)
	var res sdk.UpdateResult
	err = s.changeProbing(ctx, sf, false, headProbe, func(st *state) (bool, error) {
		i := st.find(req.Key)
		if i < 0 {
			return false, sdk.Errorf(sdk.CodeNotFound, "update %s in %s: no such entry", req.Key, req.Resource)
		}
		if st.entries[i].ModRev != req.ExpectRev {
			return false, sdk.Errorf(sdk.CodeRevMismatch, "update %s in %s: entry is at revision %d, not %d", req.Key, req.Resource, st.entries[i].ModRev, req.ExpectRev)
		}
		if req.ExpectResourceRev != 0 && st.rev != req.ExpectResourceRev {
			return false, sdk.Errorf(sdk.CodeRevMismatch, "update %s in %s: resource is at revision %d, not %d", req.Key, req.Resource, st.rev, req.ExpectResourceRev)
		}
		e := st.update(i, clone(req.Value))
		res = sdk.UpdateResult{ModRev: e.ModRev, Rev: st.rev}
		return true, nil
	})
	if errors.Is(err, errNoFile) {
		return res, sdk.Errorf(sdk.CodeNotFound, "update %s in %s: no such entry", req.Key, req.Resource)
	}
	return res, err
}

// Delete removes an entry if its ModRev is req.ExpectRev (0: any).
func (s *Store) Delete(ctx context.Context, req sdk.DeleteRequest) (sdk.DeleteResult, error) {
	sf, err := s.open(req.Resource)
	if err != nil {
		return sdk.DeleteResult{}, err
	}
	defer s.doneWith(sf)
	var res sdk.DeleteResult
	limit := headProbe
	if req.WithRange {
		limit = -1
	}
	err = s.changeProbing(ctx, sf, false, limit, func(st *state) (bool, error) {
		i := st.find(req.Key)
		if i < 0 {
			return false, sdk.Errorf(sdk.CodeNotFound, "delete %s in %s: no such entry", req.Key, req.Resource)
		}
		if req.ExpectRev != 0 && st.entries[i].ModRev != req.ExpectRev {
			return false, sdk.Errorf(sdk.CodeRevMismatch, "delete %s in %s: entry is at revision %d, not %d", req.Key, req.Resource, st.entries[i].ModRev, req.ExpectRev)
		}
		owner := st.entries[i].Session
		st.remove(i)
		if !slices.ContainsFunc(st.entries, func(e sdk.Entry) bool { return e.Session == owner }) {
			s.unlist(owner, sf)
		}
		res = sdk.DeleteResult{Rev: st.rev}
		if req.WithRange {
			res.Entries = st.cloneEntries()
		}
		return true, nil
	})
	if errors.Is(err, errNoFile) {
		return res, sdk.Errorf(sdk.CodeNotFound, "delete %s in %s: no such entry", req.Key, req.Resource)
	}
	return res, err
}

// Range returns the resource's live entries. A resource without a state
// file has no entries and is at the machine's revision floor (above every
// revision a removed state file of it reached); Range does not create one.
func (s *Store) Range(ctx context.Context, resource string) (sdk.RangeResult, error) {
	sf, err := s.open(resource)
	if err != nil {
		return sdk.RangeResult{}, err
	}
	defer s.doneWith(sf)
	var res sdk.RangeResult
	err = s.view(ctx, sf, false, func(st *state) {
		res = sdk.RangeResult{Rev: st.rev, Entries: st.cloneEntries()}
	})
	if errors.Is(err, errNoFile) {
		floor, err := s.floor.current()
		return sdk.RangeResult{Rev: floor}, err
	}
	return res, err
}

func clone(b []byte) []byte {
	if len(b) == 0 {
		return nil
	}
	return append([]byte(nil), b...)
}
