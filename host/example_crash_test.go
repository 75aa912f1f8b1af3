package host_test

import (
	"context"
	"fmt"
	"time"

	"github.com/locksmithx/locksmith/host"
)

// A crash of the backend plugin costs a restart, not the lease, on a
// backend that adopts sessions (file, redis): the host restarts the
// plugin, hands it the session and carries on. Here the file backend's
// plugin is killed while a lease is held; the lease is neither lost nor
// ended, and releases normally on the restarted plugin.
func Example_pluginCrash() {
	h, stop := exampleHost()
	defer stop()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()

	l, err := h.Named(ctx, "report")
	if err != nil {
		fmt.Println(err)
		return
	}
	_ = host.KillBackendForExamples(ctx, h)
	fmt.Println("release:", l.Release(ctx)) // waits for the restarted plugin
	fmt.Println("lost:", l.Lost())
	// Output:
	// release: <nil>
	// lost: <nil>
}
