package redis

import (
	"context"
	"fmt"
	"strings"
	"sync"

	goredis "github.com/redis/go-redis/v9"
)

// durability is what the servers' configuration promises about revisions
// surviving a restart or a failover.
type durability struct {
	persistent bool
	warnings   []string
}

// nodeSettings are the settings of one master that bear on durability.
type nodeSettings struct {
	addr      string
	err       error
	aof       string
	fsync     string
	eviction  string
	replicas  int
	replicaOf string
}

// probeDurability reads CONFIG GET appendonly/appendfsync/maxmemory-policy
// and INFO replication on every master and says, in plain words, where
// fencing tokens could go backwards.
func probeDurability(ctx context.Context, c *conn) durability {
	var nodes []nodeSettings
	if cc, ok := c.rdb.(*goredis.ClusterClient); ok {
		var mu sync.Mutex
		err := cc.ForEachMaster(ctx, func(ctx context.Context, n *goredis.Client) error {
			s := readSettings(ctx, n, n.Options().Addr)
			mu.Lock()
			nodes = append(nodes, s)
			mu.Unlock()
			return nil
		})
		if err != nil {
			nodes = append(nodes, nodeSettings{addr: c.cfg.where(), err: err})
		}
	} else {
		addr := c.cfg.where()
		if cl, ok := c.rdb.(*goredis.Client); ok && c.cfg.MasterName == "" {
			addr = cl.Options().Addr
		}
		nodes = append(nodes, readSettings(ctx, c.rdb, addr))
	}
	return judge(c.cfg, c.cluster, nodes)
}

func readSettings(ctx context.Context, n goredis.Cmdable, addr string) nodeSettings {
	s := nodeSettings{addr: addr}
	cfg, err := n.ConfigGet(ctx, "*").Result()
	if err != nil {
		s.err = err
		return s
	}
	s.aof, s.fsync, s.eviction = cfg["appendonly"], cfg["appendfsync"], cfg["maxmemory-policy"]
	if info, err := n.Info(ctx, "replication").Result(); err == nil {
		for _, line := range strings.Split(info, "\n") {
			k, v, _ := strings.Cut(strings.TrimSpace(line), ":")
			switch k {
			case "connected_slaves":
				_, _ = fmt.Sscan(v, &s.replicas)
			case "master_host":
				s.replicaOf = v
			}
		}
	}
	return s
}

func judge(cfg Config, cluster bool, nodes []nodeSettings) durability {
	d := durability{persistent: len(nodes) > 0}
	replicated := cfg.MasterName != ""
	for _, n := range nodes {
		if n.err != nil {
			d.persistent = false
			d.warnings = append(d.warnings, fmt.Sprintf(
				"redis %s: could not read its persistence settings (%v); assuming revision counters do not survive a restart, so fencing tokens could repeat after one",
				n.addr, n.err))
			continue
		}
		switch {
		case n.aof != "yes":
			d.persistent = false
			d.warnings = append(d.warnings, fmt.Sprintf(
				"redis %s has no append-only file (appendonly %s): a restart loses the revision counters (RDB snapshots lose everything since the last one), so fencing tokens can start again low and repeat tokens already handed out, and held locks vanish. Set appendonly yes and appendfsync always",
				n.addr, n.aof))
		case n.fsync == "everysec":
			d.warnings = append(d.warnings, fmt.Sprintf(
				"redis %s syncs its append-only file once a second (appendfsync everysec): revisions survive a restart of redis-server, but a crash of the machine or a power loss can lose the last second of changes and repeat fencing tokens. Set appendfsync always for tokens that never repeat",
				n.addr))
		case n.fsync != "always":
			d.persistent = false
			d.warnings = append(d.warnings, fmt.Sprintf(
				"redis %s leaves syncing its append-only file to the OS (appendfsync %s): a crash of the machine can lose many seconds of changes and repeat fencing tokens. Set appendfsync always",
				n.addr, n.fsync))
		}
		if strings.HasPrefix(n.eviction, "allkeys-") {
			d.persistent = false
			d.warnings = append(d.warnings, fmt.Sprintf(
				"redis %s evicts any key when memory is full (maxmemory-policy %s): revision counters can be evicted and fencing tokens repeat. Use noeviction",
				n.addr, n.eviction))
		} else if strings.HasPrefix(n.eviction, "volatile-") {
			d.warnings = append(d.warnings, fmt.Sprintf(
				"redis %s evicts keys with a TTL when memory is full (maxmemory-policy %s): sessions can be evicted early and their locks lost. Use noeviction",
				n.addr, n.eviction))
		}
		if n.replicas > 0 || n.replicaOf != "" {
			replicated = true
		}
	}
	if replicated {
		what := "a replica promoted after a failover"
		if cfg.MasterName != "" {
			what = "the replica Sentinel promotes in a failover"
		}
		d.warnings = append(d.warnings, fmt.Sprintf(
			"Redis replication is asynchronous: %s may lack the last changes of the old primary, so fencing tokens handed out just before the failover can be handed out again and locks taken just before it can vanish. Use persistence without failover, or accept this window (see the plugin's README)",
			what))
	}
	if cluster && len(nodes) == 0 {
		d.persistent = false
	}
	return d
}
