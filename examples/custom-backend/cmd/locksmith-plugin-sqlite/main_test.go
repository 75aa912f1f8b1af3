package main

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/locksmithx/locksmith/config"
	"github.com/locksmithx/locksmith/host"
	"github.com/locksmithx/locksmith/host/hosttest"
	"github.com/locksmithx/locksmith/sdk"
	"github.com/locksmithx/locksmith/sdk/backendtest"
)

// plugin is this command, built once by TestMain.
var plugin string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "locksmith-plugin-sqlite-")
	if err != nil {
		panic(err)
	}
	plugin = filepath.Join(dir, "locksmith-plugin-sqlite")
	if out, err := exec.Command("go", "build", "-o", plugin, ".").CombinedOutput(); err != nil {
		os.RemoveAll(dir)
		panic("go build: " + err.Error() + "\n" + string(out))
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// processes launches plugin processes on one database file and remembers
// each one's process, so that a test can crash it.
type processes struct {
	db    string
	mu    sync.Mutex
	conns map[sdk.Backend]*sdk.Conn
}

// launch starts a plugin process, as the host does (go-plugin, gRPC,
// mutual TLS), and configures it on p.db. It is stopped when the test ends.
func (p *processes) launch(t *testing.T) sdk.Backend {
	conn, err := sdk.Launch(exec.Command(plugin), sdk.KindBackend)
	if err != nil {
		t.Fatalf("launch plugin: %v", err)
	}
	t.Cleanup(conn.Kill)
	b := conn.Backend()
	if b == nil {
		t.Fatal("plugin does not serve a backend")
	}
	if err := b.Configure(context.Background(), sdk.Config{"path": p.db, "history": 64}); err != nil {
		t.Fatalf("configure plugin: %v", err)
	}
	p.mu.Lock()
	p.conns[b] = conn
	p.mu.Unlock()
	return b
}

// crash kills b's process with SIGKILL: its sessions stay in the database.
func (p *processes) crash(t *testing.T, b sdk.Backend) {
	p.mu.Lock()
	conn := p.conns[b]
	p.mu.Unlock()
	if conn == nil || conn.Pid() == 0 {
		t.Fatalf("crash: no process known for this backend")
	}
	if err := syscall.Kill(conn.Pid(), syscall.SIGKILL); err != nil {
		t.Fatalf("crash plugin: %v", err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for !conn.Exited() && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
}

// TestPluginProcesses runs the conformance suite against plugin processes
// on one shared database file, a new process for every check: the store is
// shared across processes exactly as it is under several hosts.
func TestPluginProcesses(t *testing.T) {
	p := &processes{db: filepath.Join(t.TempDir(), "locks.db"), conns: map[sdk.Backend]*sdk.Conn{}}
	backendtest.Run(t, p.launch, backendtest.WithoutGRPC(), backendtest.WithCrash(p.crash), backendtest.WithSharedStore(),
		backendtest.WithRestart(func(t *testing.T, b sdk.Backend) sdk.Backend { p.crash(t, b); return p.launch(t) }))
}

// TestLockSemantics runs the host's lock semantics on the plugin: every
// host starts its own plugin process, and all of them share one database.
func TestLockSemantics(t *testing.T) {
	db := filepath.Join(t.TempDir(), "locks.db")
	hosttest.Run(t, func(*testing.T) config.Config {
		cfg := config.Default()
		cfg.Backend = "sqlite"
		cfg.Lease.TTL = 10 * time.Second // long: a loaded machine must not expire a session between renewals
		cfg.Plugins["sqlite"] = config.Plugin{Path: plugin, Config: map[string]any{"path": db}}
		return cfg
	})
}

// TestRelativeDatabasePath: a relative path in the plugin's config resolves
// against the config file's directory (the host starts the plugin there),
// not against wherever the host runs.
func TestRelativeDatabasePath(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "locksmith.yaml")
	yaml := "backend: sqlite\nplugins:\n  sqlite:\n    path: " + plugin + "\n    config: { path: relative.db }\n"
	if err := os.WriteFile(file, []byte(yaml), 0o644); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = os.Remove("relative.db") }) // where a wrong rule puts it
	cfg, err := config.Load(config.Sources{File: file, Environ: []string{}})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	h, err := host.New(ctx, cfg)
	if err != nil {
		t.Fatalf("start host: %v", err)
	}
	defer h.Close()
	l, err := h.Named(ctx, "relative")
	if err != nil {
		t.Fatalf("lock: %v", err)
	}
	_ = l.Release(ctx)
	if _, err := os.Stat(filepath.Join(dir, "relative.db")); err != nil {
		t.Errorf("the database is not beside the config file: %v", err)
	}
}
