package host_test

import (
	"context"
	"fmt"
	"time"

	"github.com/locksmithx/locksmith/host"
)

// A host polls — and so uses its Backoff — only on backends that cannot
// watch; on those that can, a waiter is woken by the change itself.
func ExampleWithBackoff() {
	h, stop := exampleHost(host.WithBackoff(host.Jitter{Backoff: host.Exponential{Min: 2 * time.Millisecond, Max: 100 * time.Millisecond}}))
	defer stop()
	ctx := context.Background()

	l, err := h.Named(ctx, "poller")
	fmt.Println(err, l.Mode())
	_ = l.Release(ctx)
	// Output:
	// <nil> exclusive
}

func ExampleExponential() {
	b := host.Exponential{Min: 10 * time.Millisecond, Max: 80 * time.Millisecond}
	for attempt := range 5 {
		fmt.Print(b.Delay(attempt), " ")
	}
	fmt.Println()
	// Output:
	// 10ms 20ms 40ms 80ms 80ms
}

func ExampleLinear() {
	b := host.Linear{Step: 100 * time.Millisecond, Max: 250 * time.Millisecond}
	for attempt := range 4 {
		fmt.Print(b.Delay(attempt), " ")
	}
	fmt.Println()
	// Output:
	// 100ms 200ms 250ms 250ms
}

// Jitter spreads each delay over [d/2, d), so that many waiters do not
// poll in step.
func ExampleJitter() {
	b := host.Jitter{Backoff: host.Exponential{Min: 10 * time.Millisecond, Max: 80 * time.Millisecond}}
	d := b.Delay(2) // 40ms before jitter
	fmt.Println(d >= 20*time.Millisecond && d < 40*time.Millisecond)
	// Output:
	// true
}
