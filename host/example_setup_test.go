package host_test

import (
	"context"
	"os"
	"path/filepath"
	"time"

	"github.com/locksmithx/locksmith/config"
	"github.com/locksmithx/locksmith/host"
)

// exampleConfig is the configuration the examples run with: the default
// file backend, found in the plugin directory the tests built it in, with
// its state in a fresh directory that cleanup removes.
func exampleConfig() (cfg config.Config, cleanup func()) {
	dir, err := os.MkdirTemp("", "locksmith-example-")
	if err != nil {
		panic(err)
	}
	cfg = config.Default()
	cfg.PluginDir = host.PluginDirForExamples()
	cfg.Plugins["file"] = config.Plugin{Config: map[string]any{
		"named_dir":   filepath.Join(dir, "named"),
		"session_dir": filepath.Join(dir, "sessions"),
	}}
	return cfg, func() { os.RemoveAll(dir) }
}

// exampleHost starts a host with exampleConfig and opts; stop closes it
// and removes its state.
func exampleHost(opts ...host.Option) (h *host.Host, stop func()) {
	cfg, cleanup := exampleConfig()
	h, err := host.New(context.Background(), cfg, opts...)
	if err != nil {
		cleanup()
		panic(err)
	}
	return h, func() {
		h.Close()
		cleanup()
	}
}

// exampleHosts starts n hosts sharing one store, as n processes on one
// machine would.
func exampleHosts(n int) (hs []*host.Host, stop func()) {
	cfg, cleanup := exampleConfig()
	for i := 0; i < n; i++ {
		h, err := host.New(context.Background(), cfg)
		if err != nil {
			panic(err)
		}
		hs = append(hs, h)
	}
	return hs, func() {
		for _, h := range hs {
			h.Close()
		}
		cleanup()
	}
}

// waitForWaiters waits until n requests wait on resource, as another
// process's request would be seen waiting.
func waitForWaiters(h *host.Host, resource string, n int) {
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) {
		st, err := h.Status(context.Background(), resource)
		if err == nil && len(st.Waiters) >= n {
			return
		}
		time.Sleep(5 * time.Millisecond)
	}
	panic("no waiter on " + resource)
}
