package memstore

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"sort"
	"time"

	"github.com/locksmithx/locksmith/sdk"
)

// session is an open session: its lease and the keys it owns. Every field
// is guarded by the store's mutex.
type session struct {
	id       string
	ttl      time.Duration
	deadline time.Time
	timer    *time.Timer
	keys     map[string]map[string]struct{} // resource -> keys
}

func (sess *session) link(resource, key string) {
	ks, ok := sess.keys[resource]
	if !ok {
		ks = map[string]struct{}{}
		sess.keys[resource] = ks
	}
	ks[key] = struct{}{}
}

func (sess *session) unlink(resource, key string) {
	ks := sess.keys[resource]
	delete(ks, key)
	if len(ks) == 0 {
		delete(sess.keys, resource)
	}
}

// OpenSession starts a session that ends ttl after its last renewal. A ttl
// that is not positive is an error wrapping sdk.ErrInvalidArgument.
func (s *Store) OpenSession(_ context.Context, ttl time.Duration, _ map[string]string) (sdk.Session, error) {
	if ttl <= 0 {
		return sdk.Session{}, sdk.Errorf(sdk.CodeInvalidArgument, "open session: ttl must be positive, got %v", ttl)
	}
	id, err := newID()
	if err != nil {
		return sdk.Session{}, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.usable(); err != nil {
		return sdk.Session{}, err
	}
	sess := &session{id: id, ttl: ttl, deadline: time.Now().Add(ttl), keys: map[string]map[string]struct{}{}}
	sess.timer = time.AfterFunc(ttl, func() { s.expire(id) })
	s.sessions[id] = sess
	return sdk.Session{ID: id, TTL: ttl}, nil
}

// KeepAlive moves the session's deadline one TTL from now.
func (s *Store) KeepAlive(_ context.Context, id string) (time.Duration, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.usable(); err != nil {
		return 0, err
	}
	sess, err := s.live(id)
	if err != nil {
		return 0, err
	}
	sess.deadline = time.Now().Add(sess.ttl)
	return sess.ttl, nil
}

// Revoke ends the session and removes its entries, one revision each.
func (s *Store) Revoke(_ context.Context, id string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.usable(); err != nil {
		return err
	}
	if sess, ok := s.sessions[id]; ok {
		s.end(sess)
	}
	return nil
}

// live returns the session id if it has not expired. A session past its
// deadline whose timer has not fired yet is ended here. s.mu is held.
func (s *Store) live(id string) (*session, error) {
	sess, ok := s.sessions[id]
	if !ok {
		return nil, sdk.Errorf(sdk.CodeSessionExpired, "session %q has expired, was revoked, or never existed", id)
	}
	if !time.Now().Before(sess.deadline) {
		s.end(sess)
		return nil, sdk.Errorf(sdk.CodeSessionExpired, "session %q has expired", id)
	}
	return sess, nil
}

// expire runs on the session's timer: it ends the session if its deadline
// has passed, else sets the timer for the deadline a renewal moved.
func (s *Store) expire(id string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	sess, ok := s.sessions[id]
	if !ok || s.closed {
		return
	}
	if left := time.Until(sess.deadline); left > 0 {
		sess.timer.Reset(left)
		return
	}
	s.end(sess)
}

// end removes the session and its entries. s.mu is held.
func (s *Store) end(sess *session) {
	sess.timer.Stop()
	delete(s.sessions, sess.id)
	for _, name := range sortedKeys(sess.keys) {
		r := s.resources[name]
		for _, key := range sortedKeys(sess.keys[name]) {
			r.remove(key, s.history)
		}
	}
	sess.keys = nil
}

func sortedKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

func newID() (string, error) {
	var b [12]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", sdk.Errorf(sdk.CodeUnavailable, "open session: read random id: %v", err)
	}
	return hex.EncodeToString(b[:]), nil
}
