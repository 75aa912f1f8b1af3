package consul

import (
	"context"
	"fmt"
	"sort"
	"strconv"
	"strings"

	"github.com/hashicorp/consul/api"

	"github.com/locksmithx/locksmith/sdk"
)

// Resources lists the resources with state under the store's prefix whose
// names start with prefix: one keys-only listing with a separator.
func (s *Store) Resources(ctx context.Context, prefix string) ([]string, error) {
	c, err := s.conn()
	if err != nil {
		return nil, err
	}
	keys, _, err := c.api.KV().Keys(c.keys.resources()+encode(prefix), "/", (&api.QueryOptions{}).WithContext(ctx))
	if err != nil {
		return nil, c.fail("list resources", err)
	}
	var out []string
	for _, k := range keys {
		if name, ok := c.keys.resourceOf(k); ok && strings.HasPrefix(name, prefix) {
			out = append(out, name)
		}
	}
	sort.Strings(out)
	return out, nil
}

// Check reports, without changing anything, for one resource or ("") for
// every resource and session registry under the prefix: entries whose
// session ended and that are not removed yet, malformed entries, a
// revision counter that is malformed or behind the revisions already
// handed out, and registries of sessions that ended without Revoke.
func (s *Store) Check(ctx context.Context, resource string) ([]sdk.Problem, error) {
	return s.inspect(ctx, resource, false)
}

// Repair fixes what Check reports: it removes the entries of ended
// sessions (each removal a revision, as usual), drops malformed entries,
// moves the revision counter past every revision handed out, and clears
// the registries of ended sessions.
func (s *Store) Repair(ctx context.Context, resource string) ([]sdk.Problem, error) {
	return s.inspect(ctx, resource, true)
}

func (s *Store) inspect(ctx context.Context, resource string, repair bool) ([]sdk.Problem, error) {
	c, err := s.conn()
	if err != nil {
		return nil, err
	}
	names := []string{resource}
	if resource == "" {
		if names, err = s.Resources(ctx, ""); err != nil {
			return nil, err
		}
	}
	var out []sdk.Problem
	for _, name := range names {
		ps, err := c.inspect(ctx, name, repair)
		out = append(out, ps...)
		if err != nil {
			return out, err
		}
	}
	if resource == "" {
		ps, err := c.inspectSessions(ctx, repair)
		out = append(out, ps...)
		if err != nil {
			return out, err
		}
	}
	return out, nil
}

func (c *conn) inspect(ctx context.Context, name string, repair bool) ([]sdk.Problem, error) {
	pairs, _, err := c.api.KV().List(c.keys.resource(name), (&api.QueryOptions{}).WithContext(ctx))
	if err != nil {
		return nil, c.fail(fmt.Sprintf("check %q", name), err)
	}
	var ps []sdk.Problem
	add := func(path, format string, args ...any) {
		ps = append(ps, sdk.Problem{Resource: name, Path: path, Message: fmt.Sprintf(format, args...), Repaired: repair})
	}
	revKey := c.keys.rev(name)
	var (
		cur, top  int64
		revIndex  uint64
		revBroken bool
		broken    []string
		dead      = map[string][]string{}
	)
	for _, p := range pairs {
		if p.Key == revKey {
			v, err := strconv.ParseInt(string(p.Value), 10, 64)
			if err != nil || v < 0 {
				add(p.Key, "revision counter holds %q, not a revision", p.Value)
				revBroken = true
			}
			cur, revIndex = v, p.ModifyIndex
			continue
		}
		key, ok := c.keys.entryKey(name, p.Key)
		if !ok {
			add(p.Key, "key %s is not part of the store's layout", p.Key)
			broken = append(broken, p.Key)
			continue
		}
		rec, err := decodeRecord(p.Value)
		if err != nil {
			add(p.Key, "entry %q: %v", key, err)
			broken = append(broken, p.Key)
			continue
		}
		top = max(top, rec.modRev)
		if p.Session == "" {
			dead[rec.session] = append(dead[rec.session], key)
		}
	}
	if len(pairs) > 0 && revIndex == 0 && !revBroken {
		add(revKey, "revision counter missing while the resource has entries")
		revBroken = true
	}
	if !revBroken && top > cur {
		add(revKey, "revision counter is %d but revision %d was already handed out: fencing tokens could repeat", cur, top)
	}
	ids := make([]string, 0, len(dead))
	for id := range dead {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	for _, id := range ids {
		add(c.keys.entries(name), "entries %q belong to session %s, which has ended; the next reader, writer or watcher of the resource removes them", dead[id], id)
	}
	if !repair || len(ps) == 0 {
		return ps, nil
	}
	if len(broken) > 0 || revBroken || top > cur {
		ops := api.KVTxnOps{}
		for _, k := range broken {
			ops = append(ops, &api.KVTxnOp{Verb: api.KVDelete, Key: k})
		}
		if revBroken || top > cur {
			// Past every revision an entry or the ring holds.
			high, err := c.ringTop(ctx, name)
			if err != nil {
				return ps, err
			}
			v := max(top, cur, high)
			ops = append(ops, &api.KVTxnOp{Verb: api.KVCAS, Key: revKey, Index: revIndex, Value: []byte(strconv.FormatInt(v, 10))})
		}
		ok, resp, _, err := c.api.KV().Txn(ops, (&api.QueryOptions{}).WithContext(ctx))
		if err != nil {
			return ps, c.fail(fmt.Sprintf("repair %q", name), err)
		}
		if !ok {
			return ps, sdk.Errorf(sdk.CodeUnavailable, "consul: repair %q: the resource changed while it was repaired (%v): run repair again", name, resp.Errors)
		}
		c.cache.drop(name)
	}
	if len(dead) > 0 {
		if _, err := c.clean(ctx, name); err != nil {
			return ps, err
		}
	}
	return ps, nil
}

// ringTop returns the highest revision the resource's event ring holds.
func (c *conn) ringTop(ctx context.Context, name string) (int64, error) {
	pairs, _, err := c.api.KV().List(c.keys.log(name), (&api.QueryOptions{}).WithContext(ctx))
	if err != nil {
		return 0, c.fail(fmt.Sprintf("repair %q", name), err)
	}
	var top int64
	for _, p := range pairs {
		if ev, err := decodeEvent(p.Value); err == nil {
			top = max(top, ev.Rev)
		}
	}
	return top, nil
}

// inspectSessions finds registries of sessions Consul no longer has.
func (c *conn) inspectSessions(ctx context.Context, repair bool) ([]sdk.Problem, error) {
	keys, _, err := c.api.KV().Keys(c.keys.sessions(), "/", (&api.QueryOptions{}).WithContext(ctx))
	if err != nil {
		return nil, c.fail("check sessions", err)
	}
	if len(keys) == 0 {
		return nil, nil
	}
	live, _, err := c.api.Session().List((&api.QueryOptions{}).WithContext(ctx))
	if err != nil {
		return nil, c.fail("check sessions", err)
	}
	alive := map[string]bool{}
	for _, s := range live {
		alive[s.ID] = true
	}
	var ps []sdk.Problem
	for _, k := range keys {
		id := strings.TrimSuffix(strings.TrimPrefix(k, c.keys.sessions()), "/")
		if alive[id] {
			continue
		}
		ps = append(ps, sdk.Problem{Path: k, Repaired: repair,
			Message: fmt.Sprintf("session %s ended without Revoke; its registry remains", id)})
		if repair {
			if err := c.clearSession(ctx, id); err != nil {
				return ps, err
			}
		}
	}
	return ps, nil
}
