package main

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/locksmithx/locksmith/host"
)

// The demo: several worker processes contend for one file through
// `locksmith exec`; every child increments a counter file and records its
// fencing token and when it ran. The demo then checks that no update was
// lost, that tokens strictly increase in the order the children ran, and
// reports how long each handoff took.
func demoCommand(g *globals) *cobra.Command {
	var workers, runs int
	var dir string
	var agent bool
	c := &cobra.Command{
		Use:   "demo",
		Short: "Show Locksmith at work: worker processes contend for one file",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if workers < 1 || runs < 1 {
				return usageErr("--workers and --runs must be at least 1")
			}
			return runDemo(cmd.OutOrStdout(), g, workers, runs, dir, agent)
		},
	}
	c.Flags().IntVar(&workers, "workers", 8, "worker processes")
	c.Flags().IntVar(&runs, "runs", 25, "locked increments per worker")
	c.Flags().StringVar(&dir, "dir", "", "directory for the counter (default: a new temporary one)")
	c.Flags().BoolVar(&agent, "agent", false, "run every exec through one server on a unix socket, as with serve --agent-socket and LOCKSMITH_SERVER")
	step := &cobra.Command{
		Use:    "step COUNTER LOG",
		Hidden: true,
		Args:   cobra.ExactArgs(2),
		RunE:   func(_ *cobra.Command, args []string) error { return demoStep(args[0], args[1]) },
	}
	c.AddCommand(step)
	return c
}

// demoStep is one critical section: a read-modify-write of the counter that
// loses updates unless it runs alone, and a record of the token and times.
func demoStep(counter, logPath string) error {
	start := time.Now().UnixNano()
	raw, err := os.ReadFile(counter)
	if err != nil {
		return err
	}
	n, err := strconv.Atoi(strings.TrimSpace(string(raw)))
	if err != nil {
		return fmt.Errorf("counter %s: %v", counter, err)
	}
	time.Sleep(time.Millisecond) // widen the window a lost update would need
	if err := os.WriteFile(counter, []byte(strconv.Itoa(n+1)+"\n"), 0o644); err != nil {
		return err
	}
	f, err := os.OpenFile(logPath, os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o644)
	if err != nil {
		return err
	}
	defer f.Close()
	_, err = fmt.Fprintf(f, "%s %d %d %d\n", os.Getenv("LOCKSMITH_FENCING_TOKEN"), start, time.Now().UnixNano(), n+1)
	return err
}

type demoRun struct {
	token, start, end int64
	value             int
}

func runDemo(out io.Writer, g *globals, workers, runs int, dir string, agent bool) error {
	self, err := os.Executable()
	if err != nil {
		return err
	}
	if dir == "" {
		if dir, err = os.MkdirTemp("", "locksmith-demo-"); err != nil {
			return err
		}
		defer os.RemoveAll(dir)
	}
	counter := filepath.Join(dir, "counter")
	logPath := filepath.Join(dir, "runs.log")
	if err := os.WriteFile(counter, []byte("0\n"), 0o644); err != nil {
		return err
	}
	_ = os.Remove(logPath)
	total := workers * runs
	childArgs, env, via := globalArgs(g), os.Environ(), ""
	var server *host.Host // the execs' server, with --agent
	if agent {
		// One host and plugin for every exec: the workers' execs are thin
		// clients of a server in this process, as with serve
		// --agent-socket. The server holds the backend choice, so the
		// execs get no flag that would make them start a host of their own.
		cfg, err := g.loadConfig(nil)
		if err != nil {
			return err
		}
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		h, err := openHost(ctx, cfg, exitFailure)
		cancel()
		if err != nil {
			return err
		}
		defer h.Close()
		server = h
		sock := filepath.Join(dir, "agent.sock")
		stopAgent, err := startAgent(sock, h, cfg.Lease.TTL, newLogger(cfg.Log.Level).Named("agent"))
		if err != nil {
			return err
		}
		defer stopAgent()
		childArgs = nil
		if g.logLevel != "" {
			childArgs = []string{"--log-level", g.logLevel}
		}
		env = append(env, serverEnv+"=unix://"+sock)
		via = ", through one server on " + sock
	}
	fmt.Fprintf(out, "%d workers x %d runs of `locksmith exec %s -- increment` (backend: %s%s)\n",
		workers, runs, counter, backendName(g), via)

	var done, failed atomic.Int64
	var firstErr atomic.Value
	var wg sync.WaitGroup
	began := time.Now()
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < runs; i++ {
				args := append(slices.Clone(childArgs), "exec", counter, "--", self, "demo", "step", counter, logPath)
				c := exec.Command(self, args...)
				c.Env = env
				c.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
				if msg, err := c.CombinedOutput(); err != nil {
					failed.Add(1)
					firstErr.CompareAndSwap(nil, fmt.Sprintf("%v: %s", err, strings.TrimSpace(string(msg))))
				}
				done.Add(1)
			}
		}()
	}
	bar := newProgress(out, total)
	stop := make(chan struct{})
	go func() {
		t := time.NewTicker(100 * time.Millisecond)
		defer t.Stop()
		for {
			select {
			case <-stop:
				return
			case <-t.C:
				bar.show(int(done.Load()), time.Since(began))
			}
		}
	}()
	wg.Wait()
	close(stop)
	elapsed := time.Since(began)
	bar.show(total, elapsed)
	bar.end()

	if n := failed.Load(); n > 0 {
		return fmt.Errorf("%d of %d runs failed; first: %v", n, total, firstErr.Load())
	}
	raw, err := os.ReadFile(counter)
	if err != nil {
		return err
	}
	count, _ := strconv.Atoi(strings.TrimSpace(string(raw)))
	list, err := readDemoLog(logPath)
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "counter: %d of %d expected", count, total)
	if count != total || len(list) != total {
		fmt.Fprintf(out, "  LOST UPDATES (%d runs recorded)\n", len(list))
		return &exitError{code: exitFailure, err: fmt.Errorf("lost updates: counter %d, expected %d", count, total)}
	}
	fmt.Fprintln(out, "  ok, no lost update")

	sort.Slice(list, func(i, j int) bool { return list[i].start < list[j].start })
	var handoffs []time.Duration
	for i := 1; i < len(list); i++ {
		if list[i].token <= list[i-1].token {
			return &exitError{code: exitFailure, err: fmt.Errorf("fencing tokens out of order: run %d has token %d after %d", i, list[i].token, list[i-1].token)}
		}
		if list[i].start < list[i-1].end {
			return &exitError{code: exitFailure, err: fmt.Errorf("critical sections overlap: tokens %d and %d", list[i-1].token, list[i].token)}
		}
		handoffs = append(handoffs, time.Duration(list[i].start-list[i-1].end))
	}
	fmt.Fprintf(out, "fencing tokens: %d..%d, strictly increasing in the order the commands ran  ok\n", list[0].token, list[len(list)-1].token)
	sort.Slice(handoffs, func(i, j int) bool { return handoffs[i] < handoffs[j] })
	if len(handoffs) > 0 {
		fmt.Fprintf(out, "handoff, one command ends -> the next one runs (release, wake-up, grant, process start): p50 %s  p90 %s  p99 %s  max %s\n",
			pct(handoffs, 50), pct(handoffs, 90), pct(handoffs, 99), handoffs[len(handoffs)-1].Round(time.Microsecond))
	}
	if server != nil {
		// Every run's lock came from the server, none from a host of its own.
		granted := server.Metrics().Acquisitions
		fmt.Fprintf(out, "the server granted %d of the %d locks\n", granted, total)
		if granted != uint64(total) {
			return &exitError{code: exitFailure, err: fmt.Errorf("the server granted %d locks for %d runs: some execs did not go through it", granted, total)}
		}
	}
	fmt.Fprintf(out, "%d locked runs in %s (%.0f/s)\n", total, elapsed.Round(time.Millisecond), float64(total)/elapsed.Seconds())
	return nil
}

func pct(sorted []time.Duration, p int) time.Duration {
	i := (len(sorted)*p + 99) / 100
	i = min(max(i-1, 0), len(sorted)-1)
	return sorted[i].Round(time.Microsecond)
}

// progressBar draws a bar on a terminal, redrawn in place; elsewhere (a
// pipe, a log) it prints a line at every tenth of the work.
type progressBar struct {
	out      io.Writer
	total    int
	terminal bool
	lastTick int
}

func newProgress(out io.Writer, total int) *progressBar {
	term := false
	if f, ok := out.(*os.File); ok {
		if st, err := f.Stat(); err == nil && st.Mode()&os.ModeCharDevice != 0 {
			term = true
		}
	}
	return &progressBar{out: out, total: total, terminal: term, lastTick: -1}
}

func (p *progressBar) show(done int, elapsed time.Duration) {
	const width = 40
	if p.terminal {
		fill := width * done / p.total
		fmt.Fprintf(p.out, "\r[%s%s] %d/%d  %s", strings.Repeat("#", fill), strings.Repeat(".", width-fill), done, p.total, elapsed.Round(100*time.Millisecond))
		return
	}
	if tick := 10 * done / p.total; tick > p.lastTick {
		p.lastTick = tick
		fmt.Fprintf(p.out, "%3d%%  %d/%d runs  %s\n", 10*tick, done, p.total, elapsed.Round(100*time.Millisecond))
	}
}

func (p *progressBar) end() {
	if p.terminal {
		fmt.Fprintln(p.out)
	}
}

func readDemoLog(p string) ([]demoRun, error) {
	f, err := os.Open(p)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var out []demoRun
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		var r demoRun
		if _, err := fmt.Sscanf(sc.Text(), "%d %d %d %d", &r.token, &r.start, &r.end, &r.value); err != nil {
			return nil, fmt.Errorf("%s: bad line %q: %v", p, sc.Text(), err)
		}
		out = append(out, r)
	}
	return out, sc.Err()
}

// globalArgs passes the demo's own global flags on to its workers.
func globalArgs(g *globals) []string {
	var a []string
	if g.configFile != "" {
		a = append(a, "--config", g.configFile)
	}
	if g.backend != "" {
		a = append(a, "--backend", g.backend)
	}
	if g.pluginDir != "" {
		a = append(a, "--plugin-dir", g.pluginDir)
	}
	if g.logLevel != "" {
		a = append(a, "--log-level", g.logLevel)
	}
	return a
}

func backendName(g *globals) string {
	if g.backend != "" {
		return g.backend
	}
	return "from config, default file"
}
