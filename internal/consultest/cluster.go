package consultest

import (
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"
)

// Cluster is three Consul servers, on 127.0.0.1, 127.0.0.2 and 127.0.0.3,
// each with a data directory, so a restarted server keeps its state.
type Cluster struct {
	Agents []*Agent
}

// StartCluster starts a 3-server cluster and waits until every server
// knows the leader. Every server is killed when the test ends.
func StartCluster(t testing.TB, opts ...Option) *Cluster {
	t.Helper()
	bin := Require(t)
	o := options{sessionTTLMin: "1s"}
	for _, opt := range opts {
		opt(&o)
	}
	root := t.TempDir()
	cl := &Cluster{}
	for i := range 3 {
		a := &Agent{IP: "127.0.0." + strconv.Itoa(i+1), Dir: filepath.Join(root, "server"+strconv.Itoa(i+1)), bin: bin, t: t}
		if err := os.MkdirAll(filepath.Join(a.Dir, "data"), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := a.pickPorts(); err != nil {
			t.Fatalf("consultest: free ports on %s: %v", a.IP, err)
		}
		cl.Agents = append(cl.Agents, a)
	}
	for i, a := range cl.Agents {
		cfg := a.portsHCL() + fmt.Sprintf("session_ttl_min = %q\n", o.sessionTTLMin) +
			"performance {\n  raft_multiplier = 1\n}\nleave_on_terminate = false\n"
		for _, h := range o.hcl {
			cfg += h + "\n"
		}
		if err := os.WriteFile(filepath.Join(a.Dir, "agent.hcl"), []byte(cfg), 0o644); err != nil {
			t.Fatal(err)
		}
		a.args = []string{"agent", "-server", "-bootstrap-expect", "3", "-node", "server" + strconv.Itoa(i+1),
			"-bind", a.IP, "-client", a.IP, "-data-dir", filepath.Join(a.Dir, "data"),
			"-config-file", filepath.Join(a.Dir, "agent.hcl"), "-log-level", "warn"}
		for j, b := range cl.Agents {
			if j != i {
				a.args = append(a.args, "-retry-join", net.JoinHostPort(b.IP, strconv.Itoa(b.SerfLAN)))
			}
		}
	}
	for _, a := range cl.Agents {
		if err := a.start(); err != nil {
			t.Fatalf("consultest: start server on %s: %v", a.IP, err)
		}
		t.Cleanup(a.Kill)
	}
	for _, a := range cl.Agents {
		if err := a.WaitLeader(60 * time.Second); err != nil {
			t.Fatalf("consultest: %v; see %s", err, a.logPath())
		}
	}
	return cl
}

// Leader returns the server that leads the cluster now, or nil.
func (c *Cluster) Leader() *Agent {
	for _, a := range c.Agents {
		if a.PID() == 0 {
			continue
		}
		l := a.Leader()
		for _, b := range c.Agents {
			if l == net.JoinHostPort(b.IP, strconv.Itoa(b.Server)) {
				return b
			}
		}
	}
	return nil
}

// Addrs returns the servers' HTTP addresses.
func (c *Cluster) Addrs() []string {
	out := make([]string, len(c.Agents))
	for i, a := range c.Agents {
		out[i] = a.Addr
	}
	return out
}
