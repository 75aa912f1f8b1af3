// Package consultest starts real Consul agents for tests: a dev agent (a
// single in-memory server) and a cluster of three servers on 127.0.0.1,
// 127.0.0.2 and 127.0.0.3. Every agent listens on free loopback ports,
// keeps its files in a test temp dir and is stopped by PID when the test
// ends. It never uses Consul's default ports.
//
// The consul binary is bin/consul at the module root (`make consul` builds
// it), else $LOCKSMITH_CONSUL_BIN, else consul in PATH.
package consultest

import (
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
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

// EnvBinary names a consul binary to use instead of bin/consul.
const EnvBinary = "LOCKSMITH_CONSUL_BIN"

// Binary returns the path of the consul binary, or an error saying how to
// get one.
func Binary() (string, error) {
	if p := os.Getenv(EnvBinary); p != "" {
		if _, err := os.Stat(p); err != nil {
			return "", fmt.Errorf("%s=%s: %v", EnvBinary, p, err)
		}
		return p, nil
	}
	if root, err := moduleRoot(); err == nil {
		p := filepath.Join(root, "bin", "consul")
		if _, err := os.Stat(p); err == nil {
			return p, nil
		}
	}
	if p, err := exec.LookPath("consul"); err == nil {
		return p, nil
	}
	return "", errors.New("no consul binary: run `make consul` (builds bin/consul from the Go module proxy), or set " + EnvBinary)
}

// moduleRoot finds the directory of the locksmith go.mod above the
// working directory.
func moduleRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		b, err := os.ReadFile(filepath.Join(dir, "go.mod"))
		if err == nil && strings.HasPrefix(string(b), "module github.com/locksmithx/locksmith\n") {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("go.mod of github.com/locksmithx/locksmith not found")
		}
		dir = parent
	}
}

// Require returns the consul binary, or skips the test when there is none
// — or fails it when the environment variable CI is "true": CI must run
// the Consul tests.
func Require(t testing.TB) string {
	t.Helper()
	p, err := Binary()
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal(err)
		}
		t.Skip(err)
	}
	return p
}

// Agent is one consul agent process started by a test.
type Agent struct {
	// Addr is the agent's HTTP address, host:port.
	Addr string
	// IP is the loopback address the agent binds.
	IP string
	// Dir is the agent's directory (config, data, log).
	Dir string
	// Ports the agent listens on.
	HTTPPort, SerfLAN, SerfWAN, Server int

	bin  string
	args []string
	t    testing.TB

	mu   sync.Mutex
	cmd  *exec.Cmd
	done chan struct{}
}

// Option is an optional setting of StartDev.
type Option func(*options)

type options struct {
	sessionTTLMin string
	hcl           []string
}

// WithSessionTTLMin sets the agent's session_ttl_min (default "1s"; Consul's
// own default is 10s).
func WithSessionTTLMin(d string) Option { return func(o *options) { o.sessionTTLMin = d } }

// WithHCL adds HCL config to the agent.
func WithHCL(hcl string) Option { return func(o *options) { o.hcl = append(o.hcl, hcl) } }

// StartDev starts `consul agent -dev` on free loopback ports and waits
// until it has a leader. The agent is killed when the test ends.
func StartDev(t testing.TB, opts ...Option) *Agent {
	t.Helper()
	bin := Require(t)
	o := options{sessionTTLMin: "1s"}
	for _, opt := range opts {
		opt(&o)
	}
	dir := t.TempDir()
	for attempt := 0; attempt < 5; attempt++ {
		a := &Agent{IP: "127.0.0.1", Dir: dir, bin: bin, t: t}
		if err := a.pickPorts(); err != nil {
			t.Fatalf("consultest: find free ports: %v", err)
		}
		cfg := a.portsHCL() + fmt.Sprintf("session_ttl_min = %q\n", o.sessionTTLMin) + strings.Join(o.hcl, "\n")
		if err := os.WriteFile(filepath.Join(dir, "agent.hcl"), []byte(cfg), 0o644); err != nil {
			t.Fatal(err)
		}
		a.args = []string{"agent", "-dev", "-node", "dev-" + strconv.Itoa(a.HTTPPort), "-bind", a.IP, "-client", a.IP,
			"-config-file", filepath.Join(dir, "agent.hcl"), "-log-level", "warn"}
		if err := a.start(); err != nil {
			t.Logf("consultest: start consul agent on %s: %v (retrying on other ports)", a.Addr, err)
			continue
		}
		t.Cleanup(a.Kill)
		if err := a.WaitLeader(30 * time.Second); err != nil {
			t.Fatalf("consultest: %v; see %s", err, a.logPath())
		}
		return a
	}
	t.Fatalf("consultest: could not start a consul agent; see the logs in %s", dir)
	return nil
}

func (a *Agent) pickPorts() error {
	ports, err := freePorts(a.IP, 4)
	if err != nil {
		return err
	}
	a.HTTPPort, a.SerfLAN, a.SerfWAN, a.Server = ports[0], ports[1], ports[2], ports[3]
	a.Addr = net.JoinHostPort(a.IP, strconv.Itoa(a.HTTPPort))
	return nil
}

func (a *Agent) portsHCL() string {
	return fmt.Sprintf("ports {\n  http = %d\n  dns = -1\n  grpc = -1\n  grpc_tls = -1\n  serf_lan = %d\n  serf_wan = %d\n  server = %d\n}\n",
		a.HTTPPort, a.SerfLAN, a.SerfWAN, a.Server)
}

func (a *Agent) logPath() string {
	return filepath.Join(a.Dir, "consul-"+strconv.Itoa(a.HTTPPort)+".log")
}

// freePorts returns n distinct free TCP ports on ip that are also free for
// UDP (serf uses both).
func freePorts(ip string, n int) ([]int, error) {
	var out []int
	var ls []net.Listener
	defer func() {
		for _, l := range ls {
			l.Close()
		}
	}()
	for tries := 0; len(out) < n && tries < 100; tries++ {
		l, err := net.Listen("tcp", net.JoinHostPort(ip, "0"))
		if err != nil {
			return nil, err
		}
		port := l.Addr().(*net.TCPAddr).Port
		u, err := net.ListenPacket("udp", net.JoinHostPort(ip, strconv.Itoa(port)))
		if err != nil {
			l.Close()
			continue
		}
		u.Close()
		ls = append(ls, l)
		out = append(out, port)
	}
	if len(out) < n {
		return nil, errors.New("not enough free ports")
	}
	return out, nil
}

func (a *Agent) start() error {
	logf, err := os.OpenFile(a.logPath(), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return err
	}
	cmd := exec.Command(a.bin, a.args...)
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		logf.Close()
		return err
	}
	done := make(chan struct{})
	go func() {
		_ = cmd.Wait()
		logf.Close()
		close(done)
	}()
	a.mu.Lock()
	a.cmd, a.done = cmd, done
	a.mu.Unlock()
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		select {
		case <-done:
			return fmt.Errorf("consul exited at start: %s", tail(a.logPath()))
		default:
		}
		if _, err := a.get("/v1/status/leader"); err == nil {
			return nil
		}
		time.Sleep(50 * time.Millisecond)
	}
	a.Kill()
	return fmt.Errorf("consul did not answer on %s within 30s", a.Addr)
}

// WaitLeader waits until the agent's cluster has a leader and the agent
// knows it.
func (a *Agent) WaitLeader(d time.Duration) error {
	deadline := time.Now().Add(d)
	for time.Now().Before(deadline) {
		if body, err := a.get("/v1/status/leader"); err == nil && strings.Trim(strings.TrimSpace(body), `"`) != "" {
			return nil
		}
		time.Sleep(50 * time.Millisecond)
	}
	return fmt.Errorf("agent %s has no leader after %v", a.Addr, d)
}

// Leader returns the address of the cluster leader's server RPC port as
// the agent sees it, or "".
func (a *Agent) Leader() string {
	body, err := a.get("/v1/status/leader")
	if err != nil {
		return ""
	}
	return strings.Trim(strings.TrimSpace(body), `"`)
}

func (a *Agent) get(path string) (string, error) {
	c := http.Client{Timeout: 2 * time.Second}
	resp, err := c.Get("http://" + a.Addr + path)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 {
		return "", fmt.Errorf("%s: %s", resp.Status, b)
	}
	return string(b), nil
}

// PID returns the agent's process id, or 0 when it is not running.
func (a *Agent) PID() int {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.cmd == nil {
		return 0
	}
	return a.cmd.Process.Pid
}

// Kill stops the agent with SIGKILL (by its PID) and waits for it to
// exit. It is safe to call more than once.
func (a *Agent) Kill() {
	a.mu.Lock()
	cmd, done := a.cmd, a.done
	a.cmd = nil
	a.mu.Unlock()
	if cmd == nil {
		return
	}
	_ = syscall.Kill(cmd.Process.Pid, syscall.SIGKILL)
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		a.t.Errorf("consultest: agent pid %d did not exit after SIGKILL", cmd.Process.Pid)
	}
}

// Restart kills the agent and starts it again with the same arguments on
// the same ports. A dev agent comes back empty; a server with a data
// directory comes back with its state.
func (a *Agent) Restart() error {
	a.Kill()
	var err error
	for attempt := 0; attempt < 20; attempt++ {
		if err = a.start(); err == nil {
			return nil
		}
		time.Sleep(100 * time.Millisecond)
	}
	return err
}

func tail(path string) string {
	b, _ := os.ReadFile(path)
	if len(b) > 2000 {
		b = b[len(b)-2000:]
	}
	return strings.TrimSpace(string(b))
}
