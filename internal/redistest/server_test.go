package redistest

import (
	"strings"
	"testing"
)

func TestStartKillRestart(t *testing.T) {
	s := Start(t, WithAOF("always"))
	if _, err := s.Do("SET", "k", "v"); err != nil {
		t.Fatal(err)
	}
	pid := s.Pid()
	s.Kill()
	if s.Pid() != 0 || ping(s.Addr) == nil {
		t.Fatalf("server %d still answers after Kill", pid)
	}
	s.Restart()
	out, err := s.Do("GET", "k")
	if err != nil || out != "v" {
		t.Fatalf("after restart with AOF GET k = %q, %v; want v", out, err)
	}
}

func TestCluster(t *testing.T) {
	c := StartCluster(t, 3)
	out, err := c.Nodes[0].Do("CLUSTER", "INFO")
	if err != nil || !strings.Contains(out, "cluster_known_nodes:3") {
		t.Fatalf("CLUSTER INFO: %s %v", out, err)
	}
}

func TestSentinelFailover(t *testing.T) {
	s := StartSentinels(t)
	old := s.Primary.Port
	s.Failover(t)
	if s.Replica.Port != old {
		t.Fatalf("failover did not swap the servers")
	}
}
