package host_test

import (
	"context"
	"errors"
	"fmt"

	"github.com/locksmithx/locksmith/host"
)

// A semaphore admits up to its limit of holders, in FIFO order.
func ExampleWithLimit() {
	h, stop := exampleHost()
	defer stop()
	ctx := context.Background()
	slot := []host.LockOption{host.WithMode(host.Shared), host.WithLimit(2)}

	a, _ := h.Named(ctx, "gpu", slot...)
	b, _ := h.Named(ctx, "gpu", slot...)
	_, err := h.Named(ctx, "gpu", append(slot, host.NoWait())...)
	fmt.Println("third while two hold:", errors.Is(err, host.ErrConflict))

	_ = a.Release(ctx)
	c, err := h.Named(ctx, "gpu", append(slot, host.NoWait())...)
	fmt.Println("third after one left:", err)
	_ = b.Release(ctx)
	_ = c.Release(ctx)
	// Output:
	// third while two hold: true
	// third after one left: <nil>
}
