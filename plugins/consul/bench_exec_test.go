package consul

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/locksmithx/locksmith/internal/consultest"
)

// BenchmarkExec runs b.N increments of a counter file, each a process
// under the lock, spread over 8 concurrent workers, on one Consul dev
// agent: with `locksmith exec` (each run starts the host and its plugin),
// with `locksmith exec` through one `locksmith serve --agent-socket`, and
// with `consul lock` (the bin/consul from `make consul`). It checks the
// count and reports the wall time of all runs; -benchtime 200x is the
// 8 × 25 of the issue.
//
//	go test -run '^$' -bench Exec -benchtime 200x ./plugins/consul/
func BenchmarkExec(b *testing.B) {
	agent := consultest.StartDev(b)
	bin := consultest.Require(b)
	b.Run("locksmith-exec", func(b *testing.B) {
		e := newExecEnv(b, agent.Addr, "bench-exec/", 15*time.Second, false)
		inc := e.script("increment", increment)
		benchProcesses(b, func(counter string) *exec.Cmd {
			return e.command("exec", "--named", "counter", "--", inc, counter)
		})
	})
	b.Run("locksmith-exec-agent", func(b *testing.B) {
		// Every exec a thin client of one `locksmith serve --agent-socket`
		// on the agent, as `consul lock` is a client of its agent.
		e := newExecEnv(b, agent.Addr, "bench-exec-agent/", 15*time.Second, false)
		inc := e.script("increment", increment)
		dir, err := os.MkdirTemp("", "lsa")
		if err != nil {
			b.Fatal(err)
		}
		defer os.RemoveAll(dir)
		sock := filepath.Join(dir, "agent.sock")
		srv := e.command("serve", "--listen", "127.0.0.1:0", "--agent-socket", sock)
		if err := srv.Start(); err != nil {
			b.Fatal(err)
		}
		defer func() { _ = srv.Process.Kill(); _ = srv.Wait() }()
		deadline := time.Now().Add(30 * time.Second)
		for {
			if _, err := os.Stat(sock); err == nil {
				break
			}
			if time.Now().After(deadline) {
				b.Fatal("locksmith serve --agent-socket did not make its socket within 30s")
			}
			time.Sleep(20 * time.Millisecond)
		}
		benchProcesses(b, func(counter string) *exec.Cmd {
			c := e.command("exec", "--named", "counter", "--", inc, counter)
			c.Env = append(os.Environ(), "LOCKSMITH_SERVER=unix://"+sock)
			return c
		})
	})
	b.Run("consul-lock", func(b *testing.B) {
		// consul lock runs its command through sh -c: a script file keeps
		// the quoting simple.
		inc := filepath.Join(b.TempDir(), "increment")
		if err := os.WriteFile(inc, []byte("#!/bin/sh\n"+increment), 0o755); err != nil {
			b.Fatal(err)
		}
		benchProcesses(b, func(counter string) *exec.Cmd {
			c := exec.Command(bin, "lock", "-http-addr="+agent.Addr, "bench-consul-lock/counter", inc, counter)
			c.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
			return c
		})
	})
}

const increment = `n=$(cat "$1"); echo $((n+1)) > "$1"` + "\n"

func benchProcesses(b *testing.B, cmd func(counter string) *exec.Cmd) {
	counter := filepath.Join(b.TempDir(), "counter")
	if err := os.WriteFile(counter, []byte("0\n"), 0o644); err != nil {
		b.Fatal(err)
	}
	var left atomic.Int64
	left.Store(int64(b.N))
	var wg sync.WaitGroup
	b.ResetTimer()
	start := time.Now()
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for left.Add(-1) >= 0 {
				ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
				c := cmd(counter)
				c = withContext(ctx, c)
				out, err := c.CombinedOutput()
				cancel()
				if err != nil {
					b.Errorf("%v: %s", err, out)
					return
				}
			}
		}()
	}
	wg.Wait()
	took := time.Since(start)
	b.StopTimer()
	raw, _ := os.ReadFile(counter)
	if got := strings.TrimSpace(string(raw)); got != strconv.Itoa(b.N) {
		b.Fatalf("counter %s after %d runs: updates were lost", got, b.N)
	}
	b.ReportMetric(took.Seconds(), "wall-s")
}

// withContext returns c bound to ctx: killed when ctx ends.
func withContext(ctx context.Context, c *exec.Cmd) *exec.Cmd {
	cc := exec.CommandContext(ctx, c.Path, c.Args[1:]...)
	cc.Env, cc.Dir, cc.SysProcAttr = c.Env, c.Dir, c.SysProcAttr
	return cc
}
