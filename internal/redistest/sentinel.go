package redistest

import (
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// SentinelMaster is the master name the sentinel setup monitors.
const SentinelMaster = "locksmith"

// Sentinels is a primary, one replica of it, and one sentinel watching
// them (quorum 1), started by a test.
type Sentinels struct {
	Primary  *Server
	Replica  *Server
	Sentinel *Server
}

// StartSentinels starts a primary, a replica replicating from it and a
// sentinel monitoring the primary under the name SentinelMaster. It waits
// until the replica is in sync and the sentinel knows the replica, so a
// forced SENTINEL FAILOVER can promote it. opts apply to the primary and
// the replica.
func StartSentinels(t testing.TB, opts ...Option) *Sentinels {
	t.Helper()
	Require(t)
	s := &Sentinels{Primary: Start(t, opts...)}
	s.Replica = Start(t, append(opts, WithArgs("--replicaof", "127.0.0.1", strconv.Itoa(s.Primary.Port)))...)

	deadline := time.Now().Add(30 * time.Second)
	waitFor(t, deadline, "replica in sync", func() (bool, string) {
		out, err := s.Replica.Do("INFO", "replication")
		return err == nil && strings.Contains(out, "master_link_status:up"), out
	})

	dir := t.TempDir()
	var sent *Server
	for attempt := 0; attempt < 5 && sent == nil; attempt++ {
		port, err := FreePort(false)
		if err != nil {
			t.Fatalf("redistest: find a free port: %v", err)
		}
		conf := fmt.Sprintf("port %d\nbind 127.0.0.1\ndir %s\nlogfile %s\n"+
			"sentinel monitor %s 127.0.0.1 %d 1\n"+
			"sentinel down-after-milliseconds %s 1000\n"+
			"sentinel failover-timeout %s 10000\n"+
			"sentinel parallel-syncs %s 1\n",
			port, dir, filepath.Join(dir, "redis.log"), SentinelMaster, s.Primary.Port,
			SentinelMaster, SentinelMaster, SentinelMaster)
		path := filepath.Join(dir, "sentinel.conf")
		if err := os.WriteFile(path, []byte(conf), 0o600); err != nil {
			t.Fatalf("redistest: write sentinel config: %v", err)
		}
		srv := &Server{Addr: net.JoinHostPort("127.0.0.1", strconv.Itoa(port)), Port: port, Dir: dir,
			args: []string{path, "--sentinel"}, t: t}
		if err := srv.start(); err != nil {
			t.Logf("redistest: start sentinel on %s: %v (retrying)", srv.Addr, err)
			continue
		}
		t.Cleanup(srv.Kill)
		sent = srv
	}
	if sent == nil {
		t.Fatalf("redistest: could not start a sentinel; see %s", dir)
	}
	s.Sentinel = sent
	waitFor(t, deadline, "sentinel sees the replica", func() (bool, string) {
		out, err := sent.Do("SENTINEL", "REPLICAS", SentinelMaster)
		return err == nil && strings.Contains(out, strconv.Itoa(s.Replica.Port)), out
	})
	return s
}

// Failover forces a failover with SENTINEL FAILOVER and waits until the
// sentinel reports the replica as the master, the replica says it is one
// and the old primary says it is a replica. After it, Primary and Replica
// are swapped.
func (s *Sentinels) Failover(t testing.TB) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	// The sentinel refuses (NOGOODSLAVE) until it has fresh INFO from the
	// replica; ask again until it accepts.
	waitFor(t, deadline, "SENTINEL FAILOVER to be accepted", func() (bool, string) {
		out, err := s.Sentinel.Do("SENTINEL", "FAILOVER", SentinelMaster)
		return err == nil && strings.Contains(out, "OK"), out
	})
	want := strconv.Itoa(s.Replica.Port)
	waitFor(t, deadline, "sentinel to name the new master", func() (bool, string) {
		out, err := s.Sentinel.Do("SENTINEL", "GET-MASTER-ADDR-BY-NAME", SentinelMaster)
		return err == nil && strings.Contains(out, want), out
	})
	waitFor(t, deadline, "new master to take the role", func() (bool, string) {
		out, err := s.Replica.Do("ROLE")
		return err == nil && strings.HasPrefix(out, "master"), out
	})
	// Until the sentinel demotes it, the old primary still takes writes,
	// which it then drops when it resyncs from the new one.
	waitFor(t, deadline, "old primary to be demoted", func() (bool, string) {
		out, err := s.Primary.Do("ROLE")
		return err == nil && strings.HasPrefix(out, "slave"), out
	})
	s.Primary, s.Replica = s.Replica, s.Primary
}

func waitFor(t testing.TB, deadline time.Time, what string, ok func() (bool, string)) {
	t.Helper()
	for {
		done, last := ok()
		if done {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("redistest: timed out waiting for %s; last: %s", what, last)
		}
		time.Sleep(100 * time.Millisecond)
	}
}
