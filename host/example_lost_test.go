package host_test

import (
	"context"
	"errors"
	"fmt"

	"github.com/locksmithx/locksmith/host"
)

// A lease is lost when its session cannot be renewed in time or its
// backend goes away. Work done under the lock should run under the lease's
// Context, which is cancelled then; Lost says why, and OnLost is called.
// Here the backend plugin is killed, as a crash would, and the backend (the
// in-memory example) keeps its sessions in the plugin process, so they die
// with it. (The file and Redis backends survive such a crash: the restarted
// plugin adopts the session, and the lease is kept.)
func ExampleOnLost() {
	cfg, cleanup := exampleConfig()
	defer cleanup()
	cfg.Backend = "memory"
	ctx := context.Background()
	h, err := host.New(ctx, cfg)
	if err != nil {
		fmt.Println(err)
		return
	}
	defer h.Close()

	lost := make(chan error, 1)
	l, err := h.Named(ctx, "leader", host.OnLost(func(err error) { lost <- err }))
	if err != nil {
		fmt.Println(err)
		return
	}
	work := l.Context()

	_ = host.KillBackendForExamples(ctx, h)
	<-work.Done()
	err = <-lost
	fmt.Println("lost:", errors.Is(err, host.ErrLost), "backend unavailable:", errors.Is(l.Lost(), host.ErrBackendUnavailable))
	fmt.Println("release:", errors.Is(l.Release(ctx), host.ErrNotHeld))
	// Output:
	// lost: true backend unavailable: true
	// release: true
}

// Release also ends the lease's Context, but the lease is not lost.
func ExampleLease_Context() {
	h, stop := exampleHost()
	defer stop()
	ctx := context.Background()

	l, _ := h.Named(ctx, "job")
	done := make(chan struct{})
	go func() {
		<-l.Context().Done() // a worker stops when the lock ends
		close(done)
	}()
	_ = l.Release(ctx)
	<-done
	fmt.Println("lost:", l.Lost())
	// Output:
	// lost: <nil>
}
