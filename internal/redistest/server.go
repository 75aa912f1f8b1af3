// Package redistest starts real redis-server processes for tests: a single
// node (optionally with AOF), a 3-master cluster and a primary/replica pair
// watched by a sentinel. Every process listens on a free loopback port,
// keeps its files in a test temp dir and is stopped by PID when the test
// ends. It never uses port 6379.
package redistest

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// Require skips the test when redis-server (and redis-cli) are not
// installed, or fails it when the environment variable CI is "true": CI
// must run the Redis tests.
func Require(t testing.TB) {
	t.Helper()
	for _, bin := range []string{"redis-server", "redis-cli"} {
		if _, err := exec.LookPath(bin); err != nil {
			msg := fmt.Sprintf("%s not found in PATH (install the Debian packages redis-server and redis-tools): %v", bin, err)
			if os.Getenv("CI") == "true" {
				t.Fatal(msg)
			}
			t.Skip(msg)
		}
	}
}

// Server is one redis-server process started by a test.
type Server struct {
	// Addr is the server's loopback address, host:port.
	Addr string
	// Port is the server's port.
	Port int
	// Dir is the server's working directory (AOF, RDB, cluster files, log).
	Dir string

	args []string
	t    testing.TB

	mu   sync.Mutex
	cmd  *exec.Cmd
	done chan struct{}
}

// Option is an optional setting of Start.
type Option func(*options)

type options struct {
	fsync   string
	args    []string
	cluster bool
}

// WithAOF turns on the append-only file with the given appendfsync policy
// ("always", "everysec" or "no").
func WithAOF(fsync string) Option { return func(o *options) { o.fsync = fsync } }

// WithArgs adds redis-server command-line arguments, such as
// "--replicaof", "127.0.0.1 7000".
func WithArgs(args ...string) Option { return func(o *options) { o.args = append(o.args, args...) } }

// withCluster starts the server in cluster mode, with a free bus port.
func withCluster() Option { return func(o *options) { o.cluster = true } }

// Start starts a redis-server on a free loopback port and waits until it
// answers PING. The server is killed when the test ends.
func Start(t testing.TB, opts ...Option) *Server {
	t.Helper()
	Require(t)
	var o options
	for _, opt := range opts {
		opt(&o)
	}
	dir := t.TempDir()
	for attempt := 0; attempt < 5; attempt++ {
		port, err := FreePort(o.cluster)
		if err != nil {
			t.Fatalf("redistest: find a free port: %v", err)
		}
		args := []string{
			"--port", strconv.Itoa(port), "--bind", "127.0.0.1", "--dir", dir,
			"--save", "", "--daemonize", "no", "--protected-mode", "no",
			"--logfile", filepath.Join(dir, "redis.log"),
		}
		if o.fsync != "" {
			args = append(args, "--appendonly", "yes", "--appendfsync", o.fsync)
		} else {
			args = append(args, "--appendonly", "no")
		}
		if o.cluster {
			args = append(args, "--cluster-enabled", "yes", "--cluster-config-file", "nodes.conf",
				"--cluster-node-timeout", "2000")
		}
		args = append(args, o.args...)
		s := &Server{Addr: net.JoinHostPort("127.0.0.1", strconv.Itoa(port)), Port: port, Dir: dir, args: args, t: t}
		if err := s.start(); err != nil {
			t.Logf("redistest: start redis-server on %s: %v (retrying on another port)", s.Addr, err)
			continue
		}
		t.Cleanup(s.Kill)
		return s
	}
	t.Fatalf("redistest: could not start redis-server; see the logs in %s", dir)
	return nil
}

func (s *Server) start() error {
	return s.startCmd("redis-server", s.args)
}

func (s *Server) startCmd(bin string, args []string) error {
	cmd := exec.Command(bin, args...)
	cmd.Dir = s.Dir
	if err := cmd.Start(); err != nil {
		return err
	}
	done := make(chan struct{})
	go func() {
		_ = cmd.Wait()
		close(done)
	}()
	s.mu.Lock()
	s.cmd, s.done = cmd, done
	s.mu.Unlock()
	if err := waitPing(s.Addr, done, 10*time.Second); err != nil {
		s.Kill()
		return err
	}
	return nil
}

// Pid is the process id of the running server, or 0 when it is stopped.
func (s *Server) Pid() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cmd == nil {
		return 0
	}
	return s.cmd.Process.Pid
}

// Kill sends SIGKILL to the server's PID and waits for it to exit. It can
// safely be called more than once.
func (s *Server) Kill() { s.signal(syscall.SIGKILL) }

// Stop sends SIGTERM to the server's PID (a clean shutdown that flushes the
// AOF) and waits for it to exit, at most 10s before it kills it.
func (s *Server) Stop() { s.signal(syscall.SIGTERM) }

func (s *Server) signal(sig syscall.Signal) {
	s.mu.Lock()
	cmd, done := s.cmd, s.done
	s.cmd, s.done = nil, nil
	s.mu.Unlock()
	if cmd == nil {
		return
	}
	_ = cmd.Process.Signal(sig)
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		_ = cmd.Process.Signal(syscall.SIGKILL)
		<-done
	}
}

// Restart starts the server again on the same port and directory with the
// same arguments, after Kill or Stop. It fails the test if the server does
// not come back.
func (s *Server) Restart() {
	s.t.Helper()
	if s.Pid() != 0 {
		s.t.Fatalf("redistest: restart %s: server still running", s.Addr)
	}
	var err error
	for attempt := 0; attempt < 20; attempt++ {
		if err = s.start(); err == nil {
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
	s.t.Fatalf("redistest: restart redis-server on %s: %v", s.Addr, err)
}

// Do runs one command with redis-cli against the server and returns its
// raw output, trimmed.
func (s *Server) Do(args ...string) (string, error) {
	return cli(s.Port, args...)
}

func cli(port int, args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	full := append([]string{"-h", "127.0.0.1", "-p", strconv.Itoa(port)}, args...)
	out, err := exec.CommandContext(ctx, "redis-cli", full...).CombinedOutput()
	if err != nil {
		return string(out), fmt.Errorf("redis-cli %s: %w: %s", strings.Join(args, " "), err, out)
	}
	return strings.TrimSpace(string(out)), nil
}

// Log returns the server's log file, for failure messages.
func (s *Server) Log() string {
	b, _ := os.ReadFile(filepath.Join(s.Dir, "redis.log"))
	return string(b)
}

// FreePort returns a loopback TCP port that was free a moment ago. With
// bus it also checks port+10000, which a cluster node uses for its bus.
func FreePort(bus bool) (int, error) {
	for attempt := 0; attempt < 50; attempt++ {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return 0, err
		}
		port := l.Addr().(*net.TCPAddr).Port
		_ = l.Close()
		if port == 6379 || port == 16379 {
			continue
		}
		if !bus {
			return port, nil
		}
		if port+10000 > 65535 {
			continue
		}
		lb, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(port+10000)))
		if err != nil {
			continue
		}
		_ = lb.Close()
		return port, nil
	}
	return 0, errors.New("no free port found")
}

// waitPing waits until addr answers PING with PONG, the process exits, or
// the timeout passes.
func waitPing(addr string, exited <-chan struct{}, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		select {
		case <-exited:
			return errors.New("redis-server exited during start-up")
		default:
		}
		if ping(addr) == nil {
			return nil
		}
		time.Sleep(20 * time.Millisecond)
	}
	return fmt.Errorf("no PONG from %s within %v", addr, timeout)
}

func ping(addr string) error {
	c, err := net.DialTimeout("tcp", addr, time.Second)
	if err != nil {
		return err
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(time.Second))
	if _, err := c.Write([]byte("PING\r\n")); err != nil {
		return err
	}
	line, err := bufio.NewReader(c).ReadString('\n')
	if err != nil {
		return err
	}
	if !strings.HasPrefix(line, "+PONG") {
		return fmt.Errorf("unexpected reply %q", strings.TrimSpace(line))
	}
	return nil
}
