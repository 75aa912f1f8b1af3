package host_test

import (
	"context"
	"errors"
	"fmt"

	"github.com/locksmithx/locksmith/host"
)

// Locking "warehouse/aisle-3/shelf-7" takes intention locks on
// "warehouse" and "warehouse/aisle-3" first: the whole warehouse cannot be
// locked while a shelf is, but another aisle can.
func ExampleHost_Hierarchical() {
	h, stop := exampleHost()
	defer stop()
	ctx := context.Background()

	shelf, err := h.Hierarchical(ctx, "warehouse/aisle-3/shelf-7")
	if err != nil {
		fmt.Println(err)
		return
	}
	st, _ := h.Status(ctx, "warehouse")
	fmt.Println("warehouse held in", st.Holders[0].Mode)

	_, err = h.Hierarchical(ctx, "warehouse", host.NoWait())
	fmt.Println("whole warehouse:", errors.Is(err, host.ErrConflict))
	aisle, err := h.Hierarchical(ctx, "warehouse/aisle-4", host.NoWait())
	fmt.Println("another aisle:", err)

	// Releasing a hierarchical lease releases its intention locks too.
	_ = aisle.Release(ctx)
	_ = shelf.Release(ctx)
	all, err := h.Hierarchical(ctx, "warehouse", host.NoWait())
	fmt.Println("whole warehouse now:", err)
	_ = all.Release(ctx)
	// Output:
	// warehouse held in IX
	// whole warehouse: true
	// another aisle: <nil>
	// whole warehouse now: <nil>
}
