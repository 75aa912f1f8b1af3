package redis

import (
	"context"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"sync"

	goredis "github.com/redis/go-redis/v9"

	"github.com/locksmithx/locksmith/sdk"
)

// Resources lists the resources that have entries (including entries of
// dead sessions not yet removed) whose names start with prefix. It scans
// every master with SCAN, so its cost grows with the keyspace.
func (s *Store) Resources(ctx context.Context, prefix string) ([]string, error) {
	c, err := s.conn()
	if err != nil {
		return nil, err
	}
	found := map[string]struct{}{}
	scan := func(ctx context.Context, n goredis.Cmdable) error {
		it := n.Scan(ctx, 0, c.keys.metaPattern(), 1000).Iterator()
		for it.Next(ctx) {
			if name, ok := c.keys.resourceOf(it.Val()); ok && strings.HasPrefix(name, prefix) {
				found[name] = struct{}{}
			}
		}
		return it.Err()
	}
	if cc, ok := c.rdb.(*goredis.ClusterClient); ok {
		var mu sync.Mutex // ForEachMaster runs the masters concurrently
		err = cc.ForEachMaster(ctx, func(ctx context.Context, n *goredis.Client) error {
			mu.Lock()
			defer mu.Unlock()
			return scan(ctx, n)
		})
	} else {
		err = scan(ctx, c.rdb)
	}
	if err != nil {
		return nil, c.fail("list resources", err)
	}
	out := make([]string, 0, len(found))
	for name := range found {
		out = append(out, name)
	}
	sort.Strings(out)
	return out, nil
}

// Check reports, without changing anything, for one resource or ("") for
// every resource with entries: entries of dead sessions not yet removed,
// malformed or half-written entries, and a revision counter behind the
// revisions already handed out.
func (s *Store) Check(ctx context.Context, resource string) ([]sdk.Problem, error) {
	return s.inspect(ctx, resource, false)
}

// Repair fixes what Check reports: it removes the entries of dead sessions
// (each removal a revision, as usual), drops malformed and half-written
// entries, and moves a lagging revision counter past every revision seen.
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
		if err != nil {
			return out, err
		}
		out = append(out, ps...)
	}
	return out, nil
}

func (c *conn) inspect(ctx context.Context, name string, repair bool) ([]sdk.Problem, error) {
	r := c.keys.resource(name)
	var (
		revCmd  *goredis.StringCmd
		metaCmd *goredis.MapStringStringCmd
		valCmd  *goredis.StringSliceCmd
		lastCmd *goredis.StringCmd
	)
	_, err := c.rdb.Pipelined(ctx, func(p goredis.Pipeliner) error {
		revCmd = p.Get(ctx, r.rev)
		metaCmd = p.HGetAll(ctx, r.meta)
		valCmd = p.HKeys(ctx, r.val)
		lastCmd = p.LIndex(ctx, r.log, -1)
		return nil
	})
	if err != nil && err != goredis.Nil {
		return nil, c.fail(fmt.Sprintf("check %q", name), err)
	}
	cur, _ := strconv.ParseInt(revCmd.Val(), 10, 64)
	top := int64(0)
	if ev, err := decodeEvent(lastCmd.Val()); err == nil {
		top = ev.Rev
	}
	var ps []sdk.Problem
	add := func(path, format string, args ...any) {
		ps = append(ps, sdk.Problem{Resource: name, Path: path, Message: fmt.Sprintf(format, args...), Repaired: repair})
	}
	sessions := map[string][]string{}
	var broken []string
	for key, meta := range metaCmd.Val() {
		f := strings.SplitN(meta, " ", 3)
		crev, e1 := strconv.ParseInt(f[0], 10, 64)
		var mrev int64
		var e2 error = fmt.Errorf("missing")
		if len(f) == 3 {
			mrev, e2 = strconv.ParseInt(f[1], 10, 64)
		}
		if e1 != nil || e2 != nil || len(f) != 3 || !validSessionID(f[2]) {
			add(r.meta+" "+key, "entry %q has malformed metadata %q", key, meta)
			broken = append(broken, key)
			continue
		}
		top = max(top, crev, mrev)
		sessions[f[2]] = append(sessions[f[2]], key)
	}
	metaKeys := metaCmd.Val()
	var orphans []string
	for _, key := range valCmd.Val() {
		if _, ok := metaKeys[key]; !ok {
			add(r.val+" "+key, "value of key %q has no entry", key)
			orphans = append(orphans, key)
		}
	}
	if top > cur {
		add(r.rev, "revision counter is %d but revision %d was already handed out: fencing tokens could repeat", cur, top)
	}
	ids := make([]string, 0, len(sessions))
	for id := range sessions {
		ids = append(ids, id)
	}
	var dead []string
	if len(ids) > 0 {
		if dead, err = c.deadSessions(ctx, ids); err != nil {
			return nil, err
		}
	}
	for _, id := range dead {
		add(r.meta, "entries %q belong to session %s, which has ended; they are removed by the next sweep or write", sessions[id], id)
	}
	if !repair || len(ps) == 0 {
		return ps, nil
	}
	_, err = c.rdb.Pipelined(ctx, func(p goredis.Pipeliner) error {
		if top > cur {
			p.Eval(ctx, `local c = tonumber(redis.call('GET', KEYS[1]) or '0')
if c < tonumber(ARGV[1]) then redis.call('SET', KEYS[1], ARGV[1]) end
return 1`, []string{r.rev}, top)
		}
		for _, k := range broken {
			p.HDel(ctx, r.meta, k)
			p.HDel(ctx, r.val, k)
		}
		for _, k := range orphans {
			p.Eval(ctx, `if redis.call('HEXISTS', KEYS[1], ARGV[1]) == 0 then redis.call('HDEL', KEYS[2], ARGV[1]) end
return 1`, []string{r.meta, r.val}, k)
		}
		return nil
	})
	if err != nil {
		return nil, c.fail(fmt.Sprintf("repair %q", name), err)
	}
	if len(dead) > 0 {
		if err := c.purge(ctx, name, dead); err != nil {
			return nil, err
		}
	}
	return ps, nil
}
