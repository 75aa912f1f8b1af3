package host_test

import (
	"context"
	"fmt"
	"time"

	"github.com/locksmithx/locksmith/host"
)

// A config change while a lock is held: the lease stays on the plugin
// that granted it, which drains (and is stopped once its last lease has
// ended), while new requests go to the new pipeline.
func ExampleHost_UpdateConfig() {
	cfg, cleanup := exampleConfig()
	defer cleanup()
	ctx := context.Background()
	h, err := host.New(ctx, cfg)
	if err != nil {
		panic(err)
	}
	defer h.Close()
	l, err := h.Named(ctx, "job")
	if err != nil {
		panic(err)
	}

	cfg.Lease.TTL = 30 * time.Second // a changed plugin setting: a new file plugin
	if err := h.UpdateConfig(ctx, cfg); err != nil {
		panic(err)
	}
	fmt.Println("lease on", l.Backend(), "held:", l.Lost() == nil)
	for _, b := range h.Health(ctx).Backends {
		fmt.Println(b.Name, b.Role, b.Leases)
	}
	// While the old plugin drains, a new request locks it too.
	if _, err := h.Named(ctx, "job", host.NoWait()); err != nil {
		fmt.Println("job:", err)
	}
	_ = l.Release(ctx)
	// Output:
	// lease on file held: true
	// file default 0
	// file draining 1
	// job: lock job: locksmith: lock is held (on backend file)
}

// A file renamed while locked: the lock follows it, make-before-break.
func ExampleLease_Migrate() {
	h, stop := exampleHost()
	defer stop()
	ctx := context.Background()
	l, err := h.Named(ctx, "report.tmp")
	if err != nil {
		panic(err)
	}
	target, _ := host.NamedResource("report")
	if err := l.Migrate(ctx, host.Target{Resource: target}); err != nil {
		panic(err)
	}
	fmt.Println(l.Resource() == target, "context alive:", l.Context().Err() == nil)
	_ = l.Release(ctx)
	// Output: true context alive: true
}
