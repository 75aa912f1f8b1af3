package host_test

import (
	"context"
	"errors"
	"fmt"

	"github.com/locksmithx/locksmith/host"
)

// A conditional lock checks its condition once it holds the lock, so the
// check cannot race with whoever held it before: here, run a migration
// only if it has not been applied yet.
func ExampleWithCondition() {
	h, stop := exampleHost()
	defer stop()
	ctx := context.Background()
	applied := map[string]bool{"v1": true} // the state the lock protects

	notApplied := func(version string) host.LockOption {
		return host.WithCondition(func(ctx context.Context, l *host.Lease) (bool, error) {
			return !applied[version], nil
		})
	}
	_, err := h.Named(ctx, "migrate", notApplied("v1"))
	fmt.Println("v1:", errors.Is(err, host.ErrConditionFailed))

	// The failed request released its lock: this one does not wait.
	l, err := h.Named(ctx, "migrate", notApplied("v2"), host.NoWait())
	if err != nil {
		fmt.Println(err)
		return
	}
	applied["v2"] = true
	fmt.Println("v2: applied under", l.Mode(), "lock")
	_ = l.Release(ctx)
	// Output:
	// v1: true
	// v2: applied under exclusive lock
}
