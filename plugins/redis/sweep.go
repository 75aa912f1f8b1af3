package redis

import (
	"context"
	"sync"
	"sync/atomic"
	"time"

	goredis "github.com/redis/go-redis/v9"
)

// Bounds of the sweep interval, a quarter of the shortest session TTL in
// the registry.
const (
	minSweep = 10 * time.Millisecond
	maxSweep = time.Second
)

// sweeper finds sessions that ended without Revoke (their key expired) and
// removes their entries from every resource they touched. Every plugin
// process runs one; the work is idempotent, so several may race.
type sweeper struct {
	c     *conn
	every atomic.Int64
	kick  chan struct{}
	quit  chan struct{}
	wg    sync.WaitGroup
}

func startSweeper(c *conn) *sweeper {
	sw := &sweeper{c: c, kick: make(chan struct{}, 1), quit: make(chan struct{})}
	sw.every.Store(int64(maxSweep))
	sw.wg.Add(1)
	go sw.loop()
	return sw
}

func (sw *sweeper) stop() {
	close(sw.quit)
	sw.wg.Wait()
}

// interval is how often the sweep runs, and how often watchers re-check
// the sessions of their resource's entries.
func (sw *sweeper) interval() time.Duration {
	if sw == nil {
		return maxSweep
	}
	return time.Duration(sw.every.Load())
}

// noteTTL shortens the interval to a quarter of ttl if that is shorter.
func (sw *sweeper) noteTTL(ttl time.Duration) {
	if sw == nil {
		return
	}
	d := clampSweep(ttl / 4)
	for {
		cur := sw.every.Load()
		if int64(d) >= cur || sw.every.CompareAndSwap(cur, int64(d)) {
			break
		}
	}
	select {
	case sw.kick <- struct{}{}:
	default:
	}
}

func clampSweep(d time.Duration) time.Duration {
	return min(max(d, minSweep), maxSweep)
}

func (sw *sweeper) loop() {
	defer sw.wg.Done()
	t := time.NewTimer(sw.interval())
	defer t.Stop()
	for {
		select {
		case <-sw.quit:
			return
		case <-sw.kick:
		case <-t.C:
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			if err := sw.run(ctx); err != nil {
				sw.c.log.Debug("sweep of expired sessions failed; retrying", "error", err)
			}
			cancel()
		}
		t.Reset(sw.interval())
	}
}

// run is one sweep: read the registry, find the sessions whose key is
// gone, clear them. It also sets the interval from the shortest TTL seen.
func (sw *sweeper) run(ctx context.Context) error {
	c := sw.c
	ids, err := c.rdb.SMembers(ctx, c.keys.registry()).Result()
	if err != nil {
		return c.fail("sweep", err)
	}
	if len(ids) == 0 {
		sw.every.Store(int64(maxSweep))
		return nil
	}
	ttls := make([]*goredis.StringCmd, len(ids))
	_, err = c.rdb.Pipelined(ctx, func(p goredis.Pipeliner) error {
		for i, id := range ids {
			ttls[i] = p.HGet(ctx, c.keys.session(id), "ttl")
		}
		return nil
	})
	if err != nil && err != goredis.Nil {
		return c.fail("sweep", err)
	}
	shortest := maxSweep * 4
	var dead []string
	for i, cmd := range ttls {
		ms, err := cmd.Int64()
		if err == goredis.Nil {
			dead = append(dead, ids[i])
			continue
		}
		if err == nil && ms > 0 {
			shortest = min(shortest, time.Duration(ms)*time.Millisecond)
		}
	}
	sw.every.Store(int64(clampSweep(shortest / 4)))
	if len(dead) == 0 {
		return nil
	}
	sets := make([]*goredis.StringSliceCmd, len(dead))
	_, err = c.rdb.Pipelined(ctx, func(p goredis.Pipeliner) error {
		for i, id := range dead {
			sets[i] = p.SMembers(ctx, c.keys.sessionResources(id))
		}
		return nil
	})
	if err != nil {
		return c.fail("sweep", err)
	}
	touched := map[string][]string{}
	for i, id := range dead {
		touched[id] = sets[i].Val()
		if c.live != nil {
			c.live.forget(id)
		}
	}
	c.log.Debug("sweeping expired sessions", "sessions", len(dead))
	return c.clearSessions(ctx, dead, touched)
}
