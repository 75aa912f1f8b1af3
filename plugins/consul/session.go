package consul

import (
	"context"
	"errors"
	"fmt"
	"os"
	"sort"
	"strings"
	"time"

	"github.com/hashicorp/consul/api"

	"github.com/locksmithx/locksmith/sdk"
)

// Consul invalidates a session SessionTTLMultiplier times its TTL after
// the last renewal; the store asks for the TTL it grants divided by it.
const ttlMultiplier = 2

// maxTTL is the longest TTL the store grants: Consul's 24h maximum,
// doubled.
const maxTTL = 48 * time.Hour

// OpenSession creates a Consul session with Behavior=release, the
// configured lock-delay and a TTL of half the one granted (Consul ends a
// session twice its TTL after the last renewal). The granted TTL is at
// least twice the agent's session_ttl_min (10s unless configured) and is
// kept in whole milliseconds.
func (s *Store) OpenSession(ctx context.Context, ttl time.Duration, meta map[string]string) (sdk.Session, error) {
	c, err := s.conn()
	if err != nil {
		return sdk.Session{}, err
	}
	if ttl <= 0 {
		return sdk.Session{}, sdk.Errorf(sdk.CodeInvalidArgument, "consul: open session: ttl %v must be positive", ttl)
	}
	half := ((ttl + ttlMultiplier - 1) / ttlMultiplier).Round(time.Millisecond)
	half = min(max(half, c.minTTL), maxTTL/ttlMultiplier)
	// The body is written here rather than by api.Session.Create, which
	// leaves out a zero lock-delay, and Consul then applies its default
	// of 15s.
	body := map[string]any{
		"Name":      sessionName(meta),
		"TTL":       half.String(),
		"Behavior":  api.SessionBehaviorRelease,
		"LockDelay": time.Duration(c.cfg.LockDelay).String(),
	}
	var out struct{ ID string }
	_, err = c.api.Raw().Write("/v1/session/create", body, &out, (&api.WriteOptions{}).WithContext(ctx))
	if m := serverMinTTL(err); m > half {
		// The servers' session_ttl_min is above the agent's: use theirs.
		half = m
		body["TTL"] = half.String()
		_, err = c.api.Raw().Write("/v1/session/create", body, &out, (&api.WriteOptions{}).WithContext(ctx))
	}
	if err != nil {
		return sdk.Session{}, c.fail("open session", err)
	}
	id := out.ID
	if !validSessionID(id) {
		return sdk.Session{}, sdk.Errorf(sdk.CodeUnknown, "consul: open session: the agent returned session id %q", id)
	}
	return sdk.Session{ID: id, TTL: ttlMultiplier * half}, nil
}

// serverMinTTL returns the minimum TTL named in Consul's refusal of a
// session TTL ("Invalid Session TTL '5000000000', must be between
// [10s=24h0m0s]"), or 0.
func serverMinTTL(err error) time.Duration {
	if err == nil {
		return 0
	}
	_, rest, ok := strings.Cut(err.Error(), "must be between [")
	if !ok {
		return 0
	}
	lo, _, ok := strings.Cut(rest, "=")
	if !ok {
		return 0
	}
	d, perr := time.ParseDuration(lo)
	if perr != nil {
		return 0
	}
	return d
}

// sessionName names a Consul session after its owner, for `consul
// operator` and the UI.
func sessionName(meta map[string]string) string {
	parts := []string{"locksmith"}
	keys := make([]string, 0, len(meta))
	for k := range meta {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		parts = append(parts, k+"="+meta[k])
	}
	name := strings.Join(parts, " ")
	if len(name) > 200 {
		name = name[:200]
	}
	return name
}

// KeepAlive renews the Consul session by id: one request, whatever the
// number of entries it holds, and no state in this process, so any plugin
// process can renew a session another one opened.
func (s *Store) KeepAlive(ctx context.Context, session string) (time.Duration, error) {
	c, err := s.conn()
	if err != nil {
		return 0, err
	}
	if !validSessionID(session) {
		return 0, sdk.Errorf(sdk.CodeSessionExpired, "consul: keep alive: no session %q", session)
	}
	entry, _, err := c.api.Session().Renew(session, (&api.WriteOptions{}).WithContext(ctx))
	if err != nil {
		if strings.Contains(err.Error(), "Unexpected response code: 404") {
			entry = nil
		} else {
			return 0, c.fail("keep alive session "+session, err)
		}
	}
	if entry == nil {
		if err := c.end(ctx, session); err != nil {
			c.log.Debug("clearing an expired session failed; the next reader of its resources removes them", "session", session, "error", err)
		}
		return 0, sdk.Errorf(sdk.CodeSessionExpired, "consul: keep alive: session %s has expired or was revoked", session)
	}
	half, err := time.ParseDuration(entry.TTL)
	if err != nil {
		return 0, sdk.Errorf(sdk.CodeUnknown, "consul: keep alive: session %s has TTL %q: %v", session, entry.TTL, err)
	}
	return ttlMultiplier * half, nil
}

// AdoptSession takes over a session an earlier process of this plugin
// opened: a Consul session lives in the cluster, not in the process, and is
// renewed by id, so adopting it is renewing it as KeepAlive does. A
// session that expired or was revoked gives ErrSessionExpired. The anchor
// is unused (the store gives none).
func (s *Store) AdoptSession(ctx context.Context, session string, _ time.Duration, _ *os.File) (sdk.Session, error) {
	ttl, err := s.KeepAlive(ctx, session)
	if err != nil {
		return sdk.Session{}, err
	}
	return sdk.Session{ID: session, TTL: ttl}, nil
}

// Revoke destroys the Consul session (Consul releases its entries in the
// same step, so from then on none is reported live), then removes its
// entries from every resource it put entries in, then its registry.
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

// end destroys the session and clears what it left.
func (c *conn) end(ctx context.Context, session string) error {
	if _, err := c.api.Session().Destroy(session, (&api.WriteOptions{}).WithContext(ctx)); err != nil {
		return c.fail("revoke session "+session, err)
	}
	return c.clearSession(ctx, session)
}

// clearSession removes a dead session's entries from the resources in
// its registry, then the registry.
func (c *conn) clearSession(ctx context.Context, session string) error {
	keys, _, err := c.api.KV().Keys(c.keys.session(session), "", (&api.QueryOptions{}).WithContext(ctx))
	if err != nil {
		return c.fail("list the resources of session "+session, err)
	}
	var errs []error
	for _, k := range keys {
		name, err := decode(strings.TrimPrefix(k, c.keys.session(session)))
		if err != nil {
			continue
		}
		if _, err := c.clean(ctx, name); err != nil {
			errs = append(errs, err)
		}
	}
	if len(errs) > 0 {
		return errors.Join(errs...)
	}
	if _, err := c.api.KV().DeleteTree(c.keys.session(session), (&api.WriteOptions{}).WithContext(ctx)); err != nil {
		return c.fail(fmt.Sprintf("forget session %s", session), err)
	}
	return nil
}

// validSessionID reports whether id can be a Consul session id: a UUID in
// lowercase or uppercase hex. Anything else names no session.
func validSessionID(id string) bool {
	if len(id) != 36 {
		return false
	}
	for i, r := range id {
		switch i {
		case 8, 13, 18, 23:
			if r != '-' {
				return false
			}
		default:
			if (r < '0' || r > '9') && (r < 'a' || r > 'f') && (r < 'A' || r > 'F') {
				return false
			}
		}
	}
	return true
}
