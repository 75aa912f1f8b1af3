package host_test

import (
	"context"
	"errors"
	"fmt"

	"github.com/locksmithx/locksmith/host"
)

// A batch takes every lock or none, in one canonical order, so two batches
// can never wait for each other.
func ExampleHost_LockBatch() {
	h, stop := exampleHost()
	defer stop()
	ctx := context.Background()
	transfer := []host.BatchRequest{
		{Resource: "account-b"},
		{Resource: "account-a"},
		{Resource: "ledger", Mode: host.Shared},
	}

	busy, _ := h.Named(ctx, "account-b")
	_, err := h.LockBatch(ctx, transfer, host.NoWait())
	var be *host.BatchError
	if errors.As(err, &be) {
		fmt.Println("failed at", be.Resource, "conflict:", errors.Is(err, host.ErrConflict))
	}
	st, _ := h.Status(ctx, "account-a")
	fmt.Println("account-a kept:", len(st.Holders) > 0)

	_ = busy.Release(ctx)
	b, err := h.LockBatch(ctx, transfer)
	if err != nil {
		fmt.Println(err)
		return
	}
	for _, l := range b.Leases {
		fmt.Println(l.Resource(), l.Mode())
	}
	_ = b.Release(ctx)
	// Output:
	// failed at account-b conflict: true
	// account-a kept: false
	// account-a exclusive
	// account-b exclusive
	// ledger shared
}
