package consul

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/locksmithx/locksmith/internal/consultest"
	"github.com/locksmithx/locksmith/sdk"
)

// TestClusterLeaderKilled: on a 3-server cluster (127.0.0.1–3), `exec`
// processes hold three locks through the two followers' agents while
// others queue behind them; the leader is killed. After the election the
// held locks are still held (a no-wait exec is refused, no holder was
// told its lock was lost), the waiters are served once the holders
// finish, no resource is ever held by two commands at once, and the
// fencing tokens of each resource strictly increase.
func TestClusterLeaderKilled(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a 3-server cluster")
	}
	cl := consultest.StartCluster(t)
	leader := cl.Leader()
	if leader == nil {
		t.Fatal("no leader")
	}
	var envs []*execEnv
	for _, a := range cl.Agents {
		if a != leader {
			envs = append(envs, newExecEnv(t, a.Addr, "cluster/", 10*time.Second, false))
		}
	}
	dir := t.TempDir()
	stop, bad := filepath.Join(dir, "stop"), filepath.Join(dir, "bad")
	resources := []string{"r0", "r1", "r2"}
	// Each command records its token, claims the resource with mkdir (a
	// second holder at once would fail it) and gives the claim back.
	body := func(r, hold string) string {
		inside := filepath.Join(dir, "inside-"+r)
		return fmt.Sprintf(`trap 'echo "lost %[1]s" >> %[2]s; exit 143' TERM
echo "$LOCKSMITH_FENCING_TOKEN" >> %[3]s
mkdir %[4]s || echo "overlap %[1]s" >> %[2]s
%[5]s
rmdir %[4]s
`, r, bad, filepath.Join(dir, "tokens-"+r), inside, hold)
	}
	type proc struct {
		name string
		out  bytes.Buffer
		done chan error
	}
	var procs []*proc
	start := func(e *execEnv, name, r, script string) *proc {
		p := &proc{name: name, done: make(chan error, 1)}
		c := e.command("exec", "--named", r, "--", "sh", "-c", script)
		c.Stdout, c.Stderr = &p.out, &p.out
		if err := c.Start(); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = c.Process.Kill() })
		go func() { p.done <- c.Wait() }()
		procs = append(procs, p)
		return p
	}
	for i, r := range resources {
		held := filepath.Join(dir, "held-"+r)
		start(envs[i%len(envs)], "holder "+r, r, body(r, fmt.Sprintf("touch %s; while [ ! -e %s ]; do sleep 0.05; done", held, stop)))
		waitExists(t, held, 30*time.Second)
	}
	for i, r := range resources {
		for w := range 2 {
			start(envs[(i+w+1)%len(envs)], fmt.Sprintf("waiter %d of %s", w, r), r, body(r, "sleep 0.1"))
		}
	}
	// 3 holders and 6 waiters are queued.
	waitQueued(t, open(t, envs[0].addr, sdk.Config{"prefix": "cluster/"}), resources, 9, 30*time.Second)

	killed := time.Now()
	leader.Kill()
	var next *consultest.Agent
	deadline := time.Now().Add(60 * time.Second)
	for next == nil || next == leader {
		if time.Now().After(deadline) {
			t.Fatal("no new leader within 60s of killing the old one")
		}
		time.Sleep(50 * time.Millisecond)
		next = cl.Leader()
	}
	t.Logf("new leader %s elected %v after the old one was killed", next.IP, time.Since(killed).Round(time.Millisecond))

	for i, r := range resources {
		code, out := envs[i%len(envs)].run("exec", "--named", r, "--no-wait", "--", "true")
		if code != 75 {
			t.Errorf("no-wait exec on %s after the election: exit %d (%s), want 75: the held lock must survive", r, code, out)
		}
	}
	if b, err := os.ReadFile(bad); err == nil {
		t.Fatalf("before the holders finished: %s", b)
	}
	if err := os.WriteFile(stop, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	for _, p := range procs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			select {
			case err := <-p.done:
				if err != nil {
					t.Errorf("%s: %v\n%s", p.name, err, p.out.String())
				}
			case <-time.After(60 * time.Second):
				t.Errorf("%s did not finish within 60s of the holders' release", p.name)
			}
		}()
	}
	wg.Wait()
	if b, err := os.ReadFile(bad); err == nil {
		t.Errorf("%s", bytes.TrimSpace(b))
	}
	for _, r := range resources {
		toks := readTokens(t, filepath.Join(dir, "tokens-"+r))
		if len(toks) != 3 {
			t.Errorf("%s was granted %d times, want 3 (a holder and two waiters): %v", r, len(toks), toks)
		}
		for i := 1; i < len(toks); i++ {
			if toks[i] <= toks[i-1] {
				t.Errorf("%s: token %d after %d: granted out of order or twice", r, toks[i], toks[i-1])
			}
		}
	}
}

// waitQueued polls until the resources hold n entries together.
func waitQueued(t testing.TB, s *Store, resources []string, n int, d time.Duration) {
	t.Helper()
	deadline := time.Now().Add(d)
	for {
		got := 0
		for _, r := range resources {
			rg, err := s.Range(ctxT(t), r)
			if err != nil {
				t.Fatal(err)
			}
			got += len(rg.Entries)
		}
		if got >= n {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d entries queued after %v, want %d", got, d, n)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
