package consul

import (
	"testing"
	"time"

	"github.com/locksmithx/locksmith/config"
	"github.com/locksmithx/locksmith/host/hosttest"
	"github.com/locksmithx/locksmith/internal/consultest"
)

// TestLockSemantics runs the host's lock semantics on a real Consul dev
// agent, each host with a plugin process of its own.
func TestLockSemantics(t *testing.T) {
	agent := consultest.StartDev(t)
	hosttest.Run(t, func(*testing.T) config.Config {
		cfg := config.Default()
		cfg.Backend = "consul"
		cfg.Lease.TTL = 10 * time.Second // a loaded machine must not expire a session between renewals
		cfg.Plugins["consul"] = config.Plugin{Path: plugin, Config: map[string]any{
			"address": agent.Addr, "prefix": "semantics/",
		}}
		return cfg
	})
}
