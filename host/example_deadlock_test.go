package host_test

import (
	"context"
	"errors"
	"fmt"

	"github.com/locksmithx/locksmith/host"
)

// Owners let the host see who waits for whom: alice holds A and waits for
// B; when bob, holding B, asks for A, the cycle is reported to him as
// ErrDeadlock instead of both waiting forever.
func ExampleWithOwner() {
	h, stop := exampleHost()
	defer stop()
	ctx := context.Background()
	alice, bob := host.NewOwner("alice"), host.NewOwner("bob")

	a, _ := h.Named(ctx, "A", host.WithOwner(alice))
	b, _ := h.Named(ctx, "B", host.WithOwner(bob))
	aliceGotB := make(chan error)
	go func() {
		l, err := h.Named(ctx, "B", host.WithOwner(alice))
		if err == nil {
			_ = l.Release(ctx)
		}
		aliceGotB <- err
	}()
	waitForWaiters(h, "B", 1)

	_, err := h.Named(ctx, "A", host.WithOwner(bob))
	fmt.Println("bob:", errors.Is(err, host.ErrDeadlock))
	fmt.Println(err)
	_ = b.Release(ctx) // bob gives up what he holds
	fmt.Println("alice:", <-aliceGotB)
	_ = a.Release(ctx)
	// Output:
	// bob: true
	// lock A: locksmith: deadlock: bob waits for alice waits for bob
	// alice: <nil>
}
