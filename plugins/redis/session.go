package redis

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"os"
	"sync"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/locksmithx/locksmith/sdk"
)

// MinTTL is the shortest session TTL the store grants; shorter requests are
// rounded up to it. TTLs are kept in whole milliseconds.
const MinTTL = 10 * time.Millisecond

// OpenSession creates a session key with a TTL and registers the session
// for the sweep, in one pipelined round trip.
func (s *Store) OpenSession(ctx context.Context, ttl time.Duration, meta map[string]string) (sdk.Session, error) {
	c, err := s.conn()
	if err != nil {
		return sdk.Session{}, err
	}
	if ttl <= 0 {
		return sdk.Session{}, sdk.Errorf(sdk.CodeInvalidArgument, "redis: open session: ttl %v must be positive", ttl)
	}
	ttl = ttl.Round(time.Millisecond)
	if ttl < MinTTL {
		ttl = MinTTL
	}
	id := newSessionID()
	args := []any{ttl.Milliseconds()}
	for k, v := range meta {
		args = append(args, "m:"+k, v)
	}
	start := time.Now()
	_, err = c.rdb.Pipelined(ctx, func(p goredis.Pipeliner) error {
		p.SAdd(ctx, c.keys.registry(), id)
		p.Eval(ctx, openSource, []string{c.keys.session(id)}, args...)
		return nil
	})
	if err != nil {
		return sdk.Session{}, c.fail("open session", err)
	}
	if c.live != nil {
		c.live.renewed(id, start, ttl)
	}
	c.sweep.noteTTL(ttl)
	return sdk.Session{ID: id, TTL: ttl}, nil
}

// KeepAlive extends the session's key by its TTL: one command, whatever
// the number of entries the session holds.
func (s *Store) KeepAlive(ctx context.Context, session string) (time.Duration, error) {
	c, err := s.conn()
	if err != nil {
		return 0, err
	}
	if !validSessionID(session) {
		return 0, sdk.Errorf(sdk.CodeSessionExpired, "redis: keep alive: no session %q", session)
	}
	start := time.Now()
	ms, err := keepAliveScript.Run(ctx, c.rdb, []string{c.keys.session(session)}).Int64()
	if err != nil {
		return 0, c.fail("keep alive session "+session, err)
	}
	if ms < 0 {
		// Clear its entries now rather than at the next sweep.
		if err := c.end(ctx, session); err != nil {
			c.log.Debug("clearing an expired session failed; the sweep retries", "session", session, "error", err)
		}
		return 0, sdk.Errorf(sdk.CodeSessionExpired, "redis: keep alive: session %s has expired or was revoked", session)
	}
	ttl := time.Duration(ms) * time.Millisecond
	if c.live != nil {
		c.live.renewed(session, start, ttl)
	}
	return ttl, nil
}

// AdoptSession takes over a session an earlier process of this plugin
// opened: a session lives in Redis, not in the process, so adopting it is
// checking that its key still exists and extending it by its TTL, as
// KeepAlive does. A session that expired or was revoked gives
// ErrSessionExpired. The anchor is unused (the store gives none).
func (s *Store) AdoptSession(ctx context.Context, session string, _ time.Duration, _ *os.File) (sdk.Session, error) {
	ttl, err := s.KeepAlive(ctx, session)
	if err != nil {
		return sdk.Session{}, err
	}
	return sdk.Session{ID: session, TTL: ttl}, nil
}

// Revoke deletes the session key (from then on the session is dead), then
// removes its entries from every resource it put entries in, then forgets
// the session. If it is interrupted after the first step, the sweep
// finishes the work.
func (s *Store) Revoke(ctx context.Context, session string) error {
	c, err := s.conn()
	if err != nil {
		return err
	}
	if !validSessionID(session) {
		return nil
	}
	return c.end(ctx, session)
}

// end deletes the session key and removes the session's entries.
func (c *conn) end(ctx context.Context, session string) error {
	if c.live != nil {
		c.live.forget(session)
	}
	resources, err := endScript.Run(ctx, c.rdb, []string{c.keys.session(session), c.keys.sessionResources(session)}).StringSlice()
	if err != nil {
		return c.fail("revoke session "+session, err)
	}
	return c.clearSessions(ctx, []string{session}, map[string][]string{session: resources})
}

// clearSessions removes the entries of dead sessions from the resources
// each touched, then drops their resource sets and registrations.
func (c *conn) clearSessions(ctx context.Context, dead []string, touched map[string][]string) error {
	byResource := map[string][]string{}
	for _, id := range dead {
		for _, r := range touched[id] {
			byResource[r] = append(byResource[r], id)
		}
	}
	var errs []error
	for r, ids := range byResource {
		if err := c.purge(ctx, r, ids); err != nil {
			errs = append(errs, err)
		}
	}
	if len(errs) > 0 {
		return errors.Join(errs...)
	}
	_, err := c.rdb.Pipelined(ctx, func(p goredis.Pipeliner) error {
		for _, id := range dead {
			p.Del(ctx, c.keys.sessionResources(id))
			p.SRem(ctx, c.keys.registry(), id)
		}
		return nil
	})
	return c.fail("forget ended sessions", err)
}

// attach (Cluster) checks that the session is alive and records the
// resource in its set, unless this process already knows both.
func (c *conn) attach(ctx context.Context, session, resource string) error {
	if c.live.attached(session, resource) {
		return nil
	}
	ok, err := attachScript.Run(ctx, c.rdb, []string{c.keys.session(session), c.keys.sessionResources(session)}, resource).Int64()
	if err != nil {
		return c.fail("put", err)
	}
	if ok == 0 {
		c.live.forget(session)
		return sdk.Errorf(sdk.CodeSessionExpired, "redis: put %q: session %s has expired or was revoked", resource, session)
	}
	c.live.attach(session, resource)
	return nil
}

// dropDead (Cluster) checks the sessions of rep's entries that this process
// does not know to be alive; if any is dead it removes its entries and
// replaces rep's entries and revision with what is left.
func (c *conn) dropDead(ctx context.Context, resource string, rep *reply) error {
	var unknown []string
	seen := map[string]bool{}
	for _, e := range rep.entries {
		if !seen[e.Session] && !c.live.alive(e.Session) {
			seen[e.Session] = true
			unknown = append(unknown, e.Session)
		}
	}
	if len(unknown) == 0 {
		return nil
	}
	dead, err := c.deadSessions(ctx, unknown)
	if err != nil || len(dead) == 0 {
		return err
	}
	fresh, err := c.run(ctx, "remove expired entries", rangeScript, resource, dead, nil)
	if err != nil {
		return err
	}
	rep.entries, rep.rev = fresh.entries, fresh.rev
	return nil
}

// deadSessions returns the ids whose session key is gone.
func (c *conn) deadSessions(ctx context.Context, ids []string) ([]string, error) {
	cmds := make([]*goredis.IntCmd, len(ids))
	_, err := c.rdb.Pipelined(ctx, func(p goredis.Pipeliner) error {
		for i, id := range ids {
			cmds[i] = p.Exists(ctx, c.keys.session(id))
		}
		return nil
	})
	if err != nil {
		return nil, c.fail("check sessions", err)
	}
	var dead []string
	for i, cmd := range cmds {
		if cmd.Val() == 0 {
			dead = append(dead, ids[i])
		}
	}
	return dead, nil
}

func newSessionID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// validSessionID reports whether id can be a session id of this store: 32
// lowercase hex digits. Anything else names no session.
func validSessionID(id string) bool {
	if len(id) != 32 {
		return false
	}
	for _, r := range id {
		if (r < '0' || r > '9') && (r < 'a' || r > 'f') {
			return false
		}
	}
	return true
}

// liveSessions is what a Cluster store process knows about the sessions it
// renews itself: until when each is certainly alive (a tenth of its TTL is
// kept as margin for clock rate and delivery), and which resources are
// already in its set.
type liveSessions struct {
	mu    sync.Mutex
	until map[string]time.Time
	res   map[string]map[string]struct{}
}

func newLiveSessions() *liveSessions {
	return &liveSessions{until: map[string]time.Time{}, res: map[string]map[string]struct{}{}}
}

// renewed records a renewal of ttl sent at start.
func (l *liveSessions) renewed(id string, start time.Time, ttl time.Duration) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.until[id] = start.Add(ttl - ttl/10)
}

func (l *liveSessions) alive(id string) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	u, ok := l.until[id]
	return ok && time.Now().Before(u)
}

func (l *liveSessions) attached(id, resource string) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	u, ok := l.until[id]
	if !ok || !time.Now().Before(u) {
		return false
	}
	_, ok = l.res[id][resource]
	return ok
}

func (l *liveSessions) attach(id, resource string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.res[id] == nil {
		l.res[id] = map[string]struct{}{}
	}
	l.res[id][resource] = struct{}{}
}

func (l *liveSessions) forget(id string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	delete(l.until, id)
	delete(l.res, id)
}
