package redistest

import (
	"strings"
	"testing"
	"time"
)

// Cluster is a Redis Cluster of masters without replicas, started by a test.
type Cluster struct {
	Nodes []*Server
}

// Addrs returns the addresses of the cluster's nodes.
func (c *Cluster) Addrs() []string {
	out := make([]string, len(c.Nodes))
	for i, n := range c.Nodes {
		out[i] = n.Addr
	}
	return out
}

// StartCluster starts n cluster-enabled redis-servers (n >= 3), joins them
// with `redis-cli --cluster create --cluster-yes` so the slots are spread
// over all of them, and waits until every node reports cluster_state:ok.
func StartCluster(t testing.TB, n int, opts ...Option) *Cluster {
	t.Helper()
	Require(t)
	if n < 3 {
		t.Fatalf("redistest: a cluster needs at least 3 masters, not %d", n)
	}
	c := &Cluster{}
	for i := 0; i < n; i++ {
		c.Nodes = append(c.Nodes, Start(t, append([]Option{withCluster()}, opts...)...))
	}
	args := append([]string{"--cluster", "create"}, c.Addrs()...)
	args = append(args, "--cluster-replicas", "0", "--cluster-yes")
	if out, err := c.Nodes[0].Do(args...); err != nil {
		t.Fatalf("redistest: create cluster: %v\n%s", err, out)
	}
	deadline := time.Now().Add(30 * time.Second)
	for _, node := range c.Nodes {
		for {
			out, err := node.Do("CLUSTER", "INFO")
			if err == nil && strings.Contains(out, "cluster_state:ok") {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("redistest: cluster node %s not ok after 30s: %s %v", node.Addr, out, err)
			}
			time.Sleep(100 * time.Millisecond)
		}
	}
	return c
}
