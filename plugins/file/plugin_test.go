package file

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/locksmithx/locksmith/sdk"
	"github.com/locksmithx/locksmith/sdk/backendtest"
)

var (
	pluginOnce sync.Once
	pluginBin  string
	pluginErr  error
	pluginDir  string
)

// pluginBinary builds cmd/locksmith-plugin-file once per test run.
func pluginBinary(t testing.TB) string {
	t.Helper()
	if testing.Short() {
		t.Skip("builds and runs the plugin binary")
	}
	pluginOnce.Do(func() {
		pluginDir, pluginErr = os.MkdirTemp("", "locksmith-plugin-file-")
		if pluginErr != nil {
			return
		}
		pluginBin = filepath.Join(pluginDir, "locksmith-plugin-file")
		out, err := exec.Command("go", "build", "-o", pluginBin, "./cmd/locksmith-plugin-file").CombinedOutput()
		if err != nil {
			pluginErr = err
			t.Logf("%s", out)
		}
	})
	if pluginErr != nil {
		t.Fatalf("build plugin: %v", pluginErr)
	}
	return pluginBin
}

// launch starts the plugin binary, configured on dir, and kills it when
// the test ends.
func launch(t testing.TB, dir string) *sdk.Conn {
	t.Helper()
	conn, err := sdk.Launch(exec.Command(pluginBinary(t)), sdk.KindBackend)
	if err != nil {
		t.Fatalf("launch plugin: %v", err)
	}
	t.Cleanup(conn.Kill)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := conn.Backend().Configure(ctx, sdk.Config{
		"named_dir":   filepath.Join(dir, "named"),
		"session_dir": filepath.Join(dir, "sessions"),
	}); err != nil {
		t.Fatalf("configure plugin: %v", err)
	}
	return conn
}

// TestPluginProcessConformance runs the conformance suite against real
// plugin processes, one per check, all on one directory. A crash is kill -9
// of the plugin process: its sessions live on in the anchors the suite
// holds, and a new process adopts them.
func TestPluginProcessConformance(t *testing.T) {
	dir := t.TempDir()
	var mu sync.Mutex
	conns := map[sdk.Backend]*sdk.Conn{}
	backendtest.Run(t, func(t *testing.T) sdk.Backend {
		c := launch(t, dir)
		mu.Lock()
		conns[c.Backend()] = c
		mu.Unlock()
		return c.Backend()
	}, backendtest.WithoutGRPC(), backendtest.WithCrash(func(t *testing.T, b sdk.Backend) {
		mu.Lock()
		c := conns[b]
		mu.Unlock()
		if err := syscall.Kill(c.Pid(), syscall.SIGKILL); err != nil {
			t.Fatalf("kill -9 plugin: %v", err)
		}
		deadline := time.Now().Add(10 * time.Second)
		for !c.Exited() {
			if time.Now().After(deadline) {
				t.Fatal("plugin still running 10s after kill -9")
			}
			time.Sleep(5 * time.Millisecond)
		}
	}))
}

// TestPluginKilledHolderReleasesWaiter: kill -9 of the plugin process that
// holds a lock keeps the lock while the host holds the session's anchor,
// and frees a waiter in another plugin process within 1.5s once the host
// closes it.
func TestPluginKilledHolderReleasesWaiter(t *testing.T) {
	dir := t.TempDir()
	holder, waiter := launch(t, dir), launch(t, dir)
	ctx := testCtx(t)
	hs, err := holder.Backend().OpenSession(ctx, 30*time.Second, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := acquire(ctx, holder.Backend(), "plugin-lock", hs.ID, "holder"); err != nil {
		t.Fatal(err)
	}
	ws, err := waiter.Backend().OpenSession(ctx, 30*time.Second, nil)
	if err != nil {
		t.Fatal(err)
	}
	granted := make(chan error, 1)
	go func() {
		_, err := acquire(ctx, waiter.Backend(), "plugin-lock", ws.ID, "waiter")
		granted <- err
	}()
	select {
	case err := <-granted:
		t.Fatalf("waiter done while the holder lives: %v", err)
	case <-time.After(300 * time.Millisecond):
	}
	pid := holder.Pid()
	p, err := os.FindProcess(pid)
	if pid == 0 || err != nil {
		t.Fatalf("holder pid %d: %v", pid, err)
	}
	if hs.Anchor == nil {
		t.Fatal("the session has no anchor")
	}
	if err := p.Kill(); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-granted:
		t.Fatalf("waiter done while the host holds the holder's anchor: %v", err)
	case <-time.After(500 * time.Millisecond):
	}
	killed := time.Now()
	_ = hs.Anchor.Close()
	select {
	case err := <-granted:
		if err != nil {
			t.Fatal(err)
		}
		d := time.Since(killed)
		t.Logf("waiter got the lock %v after the anchor of the killed holder's session was closed", d)
		if d > 1500*time.Millisecond {
			t.Errorf("took %v; want within 1.5s", d)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("waiter still waiting 5s after the anchor was closed")
	}
}
