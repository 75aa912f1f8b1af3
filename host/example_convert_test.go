package host_test

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/locksmithx/locksmith/host"
)

// An upgrade keeps the lease's place and fencing token, and waits only
// for the other holders it conflicts with.
func ExampleLease_Upgrade() {
	h, stop := exampleHost()
	defer stop()
	ctx := context.Background()

	mine, _ := h.Named(ctx, "document", host.WithMode(host.Read))
	other, _ := h.Named(ctx, "document", host.WithMode(host.Read))
	token := mine.Token()

	upgraded := make(chan error)
	go func() { upgraded <- mine.Upgrade(ctx) }()
	select {
	case <-upgraded:
		fmt.Println("upgraded beside another reader")
	case <-time.After(100 * time.Millisecond):
		fmt.Println("the upgrade waits for the other reader")
	}
	_ = other.Release(ctx)
	fmt.Println("upgrade:", <-upgraded, mine.Mode(), "same token:", mine.Token() == token)
	_ = mine.Release(ctx)
	// Output:
	// the upgrade waits for the other reader
	// upgrade: <nil> exclusive same token: true
}

// Two readers that both upgrade could never both succeed: one of them is
// refused at once with ErrDeadlock and keeps its read lock; once it lets
// go, the other upgrades.
func ExampleLease_Upgrade_deadlock() {
	h, stop := exampleHost()
	defer stop()
	ctx := context.Background()

	a, _ := h.Named(ctx, "balance", host.WithMode(host.Read))
	b, _ := h.Named(ctx, "balance", host.WithMode(host.Read))
	type result struct {
		l   *host.Lease
		err error
	}
	results := make(chan result, 2)
	for _, l := range []*host.Lease{a, b} {
		go func() {
			err := l.Upgrade(ctx)
			if errors.Is(err, host.ErrDeadlock) {
				fmt.Println("refused upgrader still reads:", l.Mode())
				_ = l.Release(ctx)
			}
			results <- result{l, err}
		}()
	}
	for range 2 {
		if r := <-results; r.err == nil {
			fmt.Println("the other upgraded:", r.l.Mode())
			_ = r.l.Release(ctx)
		}
	}
	// Output:
	// refused upgrader still reads: shared
	// the other upgraded: exclusive
}

// A downgrade never waits, and lets waiting readers in.
func ExampleLease_Downgrade() {
	hs, stop := exampleHosts(2)
	defer stop()
	ctx := context.Background()

	w, _ := hs[0].Named(ctx, "catalog", host.WithMode(host.Write))
	reader := make(chan *host.Lease)
	go func() {
		r, _ := hs[1].Named(ctx, "catalog", host.WithMode(host.Read))
		reader <- r
	}()
	waitForWaiters(hs[0], "catalog", 1)

	fmt.Println("downgrade:", w.Downgrade(ctx), w.Mode())
	r := <-reader
	fmt.Println("reader:", r.Mode())
	_ = r.Release(ctx)
	_ = w.Release(ctx)
	// Output:
	// downgrade: <nil> shared
	// reader: shared
}

// Convert moves between any two modes in place: here a writer steps down
// to update mode (readers may join, other updaters may not), then to a
// plain read.
func ExampleLease_Convert() {
	h, stop := exampleHost()
	defer stop()
	ctx := context.Background()

	l, _ := h.Named(ctx, "price-list", host.WithMode(host.Write))
	token := l.Token()
	for _, m := range []host.Mode{host.Update, host.Shared} {
		fmt.Println("convert:", l.Convert(ctx, m), l.Mode())
		other, err := h.Named(ctx, "price-list", host.WithMode(host.Update), host.NoWait())
		fmt.Println("  another updater refused:", errors.Is(err, host.ErrConflict))
		if err == nil {
			_ = other.Release(ctx)
		}
	}
	fmt.Println("same token:", l.Token() == token)
	_ = l.Release(ctx)
	// Output:
	// convert: <nil> update
	//   another updater refused: true
	// convert: <nil> shared
	//   another updater refused: false
	// same token: true
}

func ExampleLease_CanUpgrade() {
	h, stop := exampleHost()
	defer stop()
	ctx := context.Background()

	u, _ := h.Named(ctx, "settings", host.WithMode(host.Update))
	r, _ := h.Named(ctx, "settings", host.WithMode(host.Read))
	can, _ := u.CanUpgrade(ctx)
	fmt.Println("with a reader:", can)
	_ = r.Release(ctx)
	can, _ = u.CanUpgrade(ctx)
	fmt.Println("alone:", can)
	_ = u.Release(ctx)
	// Output:
	// with a reader: false
	// alone: true
}
