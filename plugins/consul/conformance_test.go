package consul

import (
	"context"
	"testing"
	"time"

	"github.com/locksmithx/locksmith/internal/consultest"
	"github.com/locksmithx/locksmith/sdk"
	"github.com/locksmithx/locksmith/sdk/backendtest"
)

func TestConformance(t *testing.T) {
	agent := consultest.StartDev(t)
	f := func(t *testing.T) sdk.Backend {
		return open(t, agent.Addr, sdk.Config{"prefix": "conf/", "history": 50})
	}
	backendtest.Run(t, f, backendtest.WithCrash(crash), backendtest.WithSharedStore(),
		backendtest.WithRestart(func(t *testing.T, b sdk.Backend) sdk.Backend { crash(t, b); return f(t) }))
}

// crash drops a store as a killed plugin process would: its sessions stay
// in Consul, unrevoked.
func crash(t *testing.T, b sdk.Backend) {
	if err := b.(*Store).Close(); err != nil {
		t.Fatalf("close store: %v", err)
	}
}

// open returns a store configured against addr, closed when the test ends.
func open(t testing.TB, addr string, cfg sdk.Config) *Store {
	t.Helper()
	c := sdk.Config{"address": addr}
	for k, v := range cfg {
		c[k] = v
	}
	s := New()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := s.Configure(ctx, c); err != nil {
		t.Fatalf("configure: %v", err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}

func ctxT(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}
