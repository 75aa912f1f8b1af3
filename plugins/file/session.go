package file

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"syscall"
	"time"

	"github.com/locksmithx/locksmith/sdk"
)

// revokeTimeout bounds the revocation of an expired session.
const revokeTimeout = 10 * time.Second

// session is a session owned by this process. Its file in the session
// directory stays flock(LOCK_EX)-ed for as long as the session lives, which
// is how every other process tells it is alive. The descriptor is also the
// session's anchor: the host holds a copy of it (the same open file
// description, so the same lock), which keeps the session alive across a
// crash of this process until a restarted plugin adopts it.
type session struct {
	id   string
	ttl  time.Duration
	path string
	f    *os.File
	// timer revokes the session when it is not kept alive within its TTL.
	timer *time.Timer
	// resources are the state files it has put entries in, by path, with
	// their resource; Revoke visits them. A file's path stays listed while
	// this process's sessions hold entries in it, open or not (see
	// forgetLocked). An adopted session knows only those it put entries in
	// since: the entries it had before are purged by the next access to
	// their resource once the session file is gone (see Revoke).
	resources map[string]string
	adopted   bool
	ended     bool
}

// sessionInfo is written into a session file for operators.
type sessionInfo struct {
	PID     int               `json:"pid"`
	Created time.Time         `json:"created"`
	TTL     string            `json:"ttl"`
	Meta    map[string]string `json:"meta,omitempty"`
}

// OpenSession creates a session file, locks it, and starts the session's
// TTL timer. The lock lives as long as the session, or this process.
func (s *Store) OpenSession(ctx context.Context, ttl time.Duration, meta map[string]string) (sdk.Session, error) {
	if err := s.ready(); err != nil {
		return sdk.Session{}, err
	}
	if ttl <= 0 {
		return sdk.Session{}, sdk.Errorf(sdk.CodeInvalidArgument, "open session: ttl %s is not positive", ttl)
	}
	var raw [16]byte
	if _, err := rand.Read(raw[:]); err != nil {
		return sdk.Session{}, fmt.Errorf("open session: %w", err)
	}
	id := hex.EncodeToString(raw[:])
	path := filepath.Join(s.cfg.sessionDir, id)
	f, err := createSessionFile(path, sessionInfo{PID: os.Getpid(), Created: time.Now().UTC(), TTL: ttl.String(), Meta: meta})
	if err != nil {
		return sdk.Session{}, sdk.Errorf(sdk.CodeUnavailable, "open session: %v", err)
	}
	sess := &session{id: id, ttl: ttl, path: path, f: f, resources: map[string]string{}}
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		_ = os.Remove(path)
		_ = f.Close()
		return sdk.Session{}, errClosed
	}
	s.sessions[id] = sess
	sess.timer = time.AfterFunc(ttl, func() { s.expire(id) })
	s.mu.Unlock()
	return sdk.Session{ID: id, TTL: ttl, Anchor: f}, nil
}

// AdoptSession takes over session id, opened by an earlier process of this
// plugin, given its anchor: a descriptor of the session file that still
// holds the session's lock. It checks that anchor is the file now at the
// session's path and that the file is locked through anchor (not merely
// locked by someone), keeps a duplicate of it, and starts the session's
// TTL timer. Entries the session had stay as they are. Adopting a session
// this process already has just restarts its timer.
func (s *Store) AdoptSession(ctx context.Context, id string, ttl time.Duration, anchor *os.File) (sdk.Session, error) {
	if err := s.ready(); err != nil {
		return sdk.Session{}, err
	}
	if ttl <= 0 {
		return sdk.Session{}, sdk.Errorf(sdk.CodeInvalidArgument, "adopt session: ttl %s is not positive", ttl)
	}
	if !validSessionID(id) {
		return sdk.Session{}, sdk.Errorf(sdk.CodeSessionExpired, "adopt session: no session %q", id)
	}
	if _, err := s.KeepAlive(ctx, id); err == nil {
		return sdk.Session{ID: id, TTL: ttl}, nil
	}
	if anchor == nil {
		return sdk.Session{}, sdk.Errorf(sdk.CodeSessionExpired, "adopt session %s: no anchor: a file session is adopted with the session file its host holds", id)
	}
	path := filepath.Join(s.cfg.sessionDir, id)
	f, err := holdAnchor(path, anchor)
	if err != nil {
		return sdk.Session{}, sdk.Errorf(sdk.CodeSessionExpired, "adopt session %s: %v", id, err)
	}
	sess := &session{id: id, ttl: ttl, path: path, f: f, resources: map[string]string{}, adopted: true}
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		_ = f.Close()
		return sdk.Session{}, errClosed
	}
	if old := s.sessions[id]; old != nil && !old.ended {
		s.mu.Unlock()
		_ = f.Close()
		return sdk.Session{ID: id, TTL: old.ttl}, nil
	}
	s.sessions[id] = sess
	sess.timer = time.AfterFunc(ttl, func() { s.expire(id) })
	s.mu.Unlock()
	return sdk.Session{ID: id, TTL: ttl}, nil
}

// holdAnchor checks that anchor is the session file at path and holds its
// lock, and returns a duplicate of it for this process to keep.
func holdAnchor(path string, anchor *os.File) (*os.File, error) {
	dev, ino, err := fileID(anchor)
	if err != nil {
		return nil, fmt.Errorf("anchor: %w", err)
	}
	if !atPath(path, dev, ino) {
		return nil, errors.New("the session file is gone: the session was revoked or expired")
	}
	// Someone holds the lock: a probe of our own cannot share it...
	probe, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("the session file is gone: %w", err)
	}
	err = flock(probe, syscall.LOCK_SH|syscall.LOCK_NB)
	_ = probe.Close()
	if err == nil {
		return nil, errors.New("the session file is not locked: the session is dead")
	}
	if !errors.Is(err, syscall.EWOULDBLOCK) {
		return nil, fmt.Errorf("probe session file: %w", err)
	}
	fd, err := syscall.Dup(int(anchor.Fd()))
	if err != nil {
		return nil, fmt.Errorf("keep anchor: %w", err)
	}
	syscall.CloseOnExec(fd)
	f := os.NewFile(uintptr(fd), path)
	// ...and the anchor can take it exclusively: so the holder is the
	// anchor's own open file description, the session's.
	if err := flock(f, syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		_ = f.Close()
		return nil, errors.New("the session file is locked by another holder than its anchor")
	}
	return f, nil
}

// createSessionFile creates the file under a temporary name, locks it, and
// only then gives it its final name, so that a session file found under its
// final name unlocked is dead for good.
func createSessionFile(path string, info sessionInfo) (*os.File, error) {
	tmp := path + ".new"
	f, err := os.OpenFile(tmp, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o644)
	if err != nil {
		return nil, err
	}
	fail := func(err error) (*os.File, error) {
		_ = os.Remove(tmp)
		_ = f.Close()
		return nil, err
	}
	if err := flock(f, syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		return fail(fmt.Errorf("lock %s: %w", tmp, err))
	}
	raw, err := json.Marshal(info)
	if err != nil {
		return fail(err)
	}
	if _, err := f.Write(append(raw, '\n')); err != nil {
		return fail(err)
	}
	if err := os.Rename(tmp, path); err != nil {
		return fail(err)
	}
	return f, nil
}

// KeepAlive restarts the session's TTL timer.
func (s *Store) KeepAlive(ctx context.Context, id string) (time.Duration, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	sess := s.sessions[id]
	if sess == nil || sess.ended || !sess.timer.Stop() {
		return 0, sdk.Errorf(sdk.CodeSessionExpired, "keep alive: session %s is not open", id)
	}
	sess.timer.Reset(sess.ttl)
	return sess.ttl, nil
}

// Revoke ends a session: it removes the session's entries from every
// resource it put entries in (each removal a revision and a delete event),
// then removes the session file and releases its lock, for every holder of
// the anchor too. Revoking an unknown or ended session does nothing.
//
// An adopted session does not know the resources it had entries in before
// it was adopted: those entries belong to a dead session from then on, so
// the next access to their resource purges them (a watch in another
// process with an entry of the session probes it every probe_interval).
func (s *Store) Revoke(ctx context.Context, id string) error {
	s.mu.Lock()
	sess := s.sessions[id]
	if sess == nil || sess.ended {
		s.mu.Unlock()
		return nil
	}
	sess.ended = true
	sess.timer.Stop()
	files := make(map[string]string, len(sess.resources))
	maps.Copy(files, sess.resources)
	s.mu.Unlock()

	// The files the session still has entries in: a release that deleted
	// its last entry in a file took the file off the list. Each visit
	// removes the session's entries and probes the queue's head as a
	// release does (headProbe), not the whole queue. With 200 waiters, an
	// exec ending probed all 200 sessions under the state file's exclusive
	// lock, which the next holder's plugin was waiting for to read its
	// grant.
	var errs []error
	for path, resource := range files {
		sf, err := s.openPath(path, resource)
		if err == nil {
			err = s.modify(ctx, sf, headProbe, func(st *state) (bool, error) {
				return st.removeIf(func(sess string) bool { return sess == id }) > 0, nil
			})
			s.doneWith(sf)
		}
		if err != nil {
			errs = append(errs, fmt.Errorf("revoke session %s: %w", id, err))
		}
	}
	s.release(sess)
	return errors.Join(errs...)
}

// release removes the session's file and drops its lock. The file goes
// first: a probe then finds either no file or no lock, both meaning dead.
// The lock is dropped explicitly, not by closing: it belongs to the open
// file description, which the host's copy of the anchor shares.
func (s *Store) release(sess *session) {
	_ = os.Remove(sess.path)
	unlockFile(sess.f)
	_ = sess.f.Close()
	s.mu.Lock()
	delete(s.sessions, sess.id)
	s.mu.Unlock()
}

// expire revokes a session whose TTL ran out.
func (s *Store) expire(id string) {
	ctx, cancel := context.WithTimeout(context.Background(), revokeTimeout)
	defer cancel()
	if err := s.Revoke(ctx, id); err != nil {
		s.log.Warn("revoke expired session", "session", id, "error", err)
	}
}

// ownAlive reports whether id is a session of this process, and if so
// whether it is still alive.
func (s *Store) ownAlive(id string) (own, alive bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	sess := s.sessions[id]
	if sess == nil {
		return false, false
	}
	return true, !sess.ended
}

// alive reports whether the session id is alive, wherever it lives.
func (s *Store) alive(id string) bool {
	if own, alive := s.ownAlive(id); own {
		return alive
	}
	return s.probes.alive(id)
}

// Interface guards.
var _ sdk.SessionAdopter = (*Store)(nil)
