package host_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/locksmithx/locksmith/host"
)

func ExampleNew() {
	ctx := context.Background()
	// config.Default() with the file backend's directories set; a real
	// program would load its config with the config package.
	cfg, cleanup := exampleConfig()
	defer cleanup()

	h, err := host.New(ctx, cfg)
	if err != nil {
		fmt.Println(err)
		return
	}
	defer h.Close()
	fmt.Println("backend:", h.BackendName())
	// Output:
	// backend: file
}

// Acquire takes an already normalised resource key, as NamedResource and
// FileResource make them.
func ExampleHost_Acquire() {
	h, stop := exampleHost()
	defer stop()
	ctx := context.Background()

	res, err := host.NamedResource("  db-migration ")
	if err != nil {
		fmt.Println(err)
		return
	}
	l, err := h.Acquire(ctx, res, host.WithMode(host.Shared))
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Printf("%q %s\n", l.Resource(), l.Mode())
	_ = l.Release(ctx)

	_, err = host.NamedResource("/etc/passwd")
	fmt.Println(errors.Is(err, host.ErrInvalidArgument))
	// Output:
	// "db-migration" shared
	// true
}

func ExampleHost_Lock() {
	h, stop := exampleHost()
	defer stop()
	ctx := context.Background()
	dir, _ := os.MkdirTemp("", "reports-")
	defer os.RemoveAll(dir)

	// The file need not exist; the lock's state lives beside it, never in it.
	path := filepath.Join(dir, "report.csv")
	l, err := h.Lock(ctx, path)
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(filepath.Base(l.Resource()), l.Mode())
	_, err = os.Stat(path)
	fmt.Println("file created:", err == nil)

	// Every spelling of the path is the same lock.
	_, err = h.TryLock(ctx, filepath.Join(dir, ".", "report.csv"))
	fmt.Println("locked again:", errors.Is(err, host.ErrConflict))
	_ = l.Release(ctx)
	// Output:
	// report.csv exclusive
	// file created: false
	// locked again: true
}

func ExampleHost_Named() {
	h, stop := exampleHost()
	defer stop()
	ctx := context.Background()

	l, err := h.Named(ctx, "db-migration", host.WithMeta("job", "nightly"))
	if err != nil {
		fmt.Println(err)
		return
	}
	defer l.Release(ctx)
	fmt.Println(l.Resource(), l.Mode())

	st, _ := h.Status(ctx, "db-migration")
	fmt.Println("holders:", len(st.Holders), "job:", st.Holders[0].Meta["job"])
	// Output:
	// db-migration exclusive
	// holders: 1 job: nightly
}

// Readers share a lock; a writer has it alone. Readers that come after a
// waiting writer wait behind it, so a stream of readers cannot starve it.
func ExampleHost_Named_shared() {
	hs, stop := exampleHosts(2) // two processes
	defer stop()
	ctx := context.Background()

	r1, _ := hs[0].Named(ctx, "config", host.WithMode(host.Read))
	r2, err := hs[1].Named(ctx, "config", host.WithMode(host.Read), host.NoWait())
	fmt.Println("second reader:", err)
	_, err = hs[1].Named(ctx, "config", host.WithMode(host.Write), host.NoWait())
	fmt.Println("writer beside readers:", errors.Is(err, host.ErrConflict))

	writer := make(chan *host.Lease)
	go func() {
		w, _ := hs[1].Named(ctx, "config", host.WithMode(host.Write))
		writer <- w
	}()
	waitForWaiters(hs[0], "config", 1)
	_, err = hs[0].Named(ctx, "config", host.WithMode(host.Read), host.NoWait())
	fmt.Println("reader behind the waiting writer:", errors.Is(err, host.ErrConflict))

	_ = r1.Release(ctx)
	_ = r2.Release(ctx)
	w := <-writer
	fmt.Println("writer:", w.Mode())
	_ = w.Release(ctx)
	// Output:
	// second reader: <nil>
	// writer beside readers: true
	// reader behind the waiting writer: true
	// writer: exclusive
}

func ExampleHost_TryLock() {
	hs, stop := exampleHosts(2)
	defer stop()
	ctx := context.Background()
	dir, _ := os.MkdirTemp("", "spool-")
	defer os.RemoveAll(dir)
	path := filepath.Join(dir, "queue.db")

	held, _ := hs[0].Lock(ctx, path)
	_, err := hs[1].TryLock(ctx, path)
	fmt.Println(errors.Is(err, host.ErrConflict))

	_ = held.Release(ctx)
	l, err := hs[1].TryLock(ctx, path)
	fmt.Println(err)
	_ = l.Release(ctx)
	// Output:
	// true
	// <nil>
}

func ExampleNoWait() {
	h, stop := exampleHost()
	defer stop()
	ctx := context.Background()

	held, _ := h.Named(ctx, "rotate-logs")
	defer held.Release(ctx)
	if _, err := h.Named(ctx, "rotate-logs", host.NoWait()); errors.Is(err, host.ErrConflict) {
		fmt.Println("someone else is rotating the logs")
	}
	// Output:
	// someone else is rotating the logs
}

// A wait ends at ctx's deadline with ErrTimeout; a cancelled ctx ends it
// with ctx's error. Either way nothing is left queued.
func ExampleErrTimeout() {
	h, stop := exampleHost()
	defer stop()
	ctx := context.Background()

	held, _ := h.Named(ctx, "nightly-backup")
	defer held.Release(ctx)

	wctx, cancel := context.WithTimeout(ctx, 100*time.Millisecond)
	defer cancel()
	_, err := h.Named(wctx, "nightly-backup")
	fmt.Println("timeout:", errors.Is(err, host.ErrTimeout))

	cctx, cancelNow := context.WithCancel(ctx)
	cancelNow()
	_, err = h.Named(cctx, "nightly-backup")
	fmt.Println("cancelled:", errors.Is(err, context.Canceled), errors.Is(err, host.ErrTimeout))

	st, _ := h.Status(ctx, "nightly-backup")
	fmt.Println("waiting:", len(st.Waiters))
	// Output:
	// timeout: true
	// cancelled: true false
	// waiting: 0
}

// Update mode is a read that may become a write: it admits readers, but
// not another updater, so two updaters can never deadlock upgrading.
func ExampleHost_Named_update() {
	h, stop := exampleHost()
	defer stop()
	ctx := context.Background()

	u, _ := h.Named(ctx, "inventory", host.WithMode(host.Update))
	r, err := h.Named(ctx, "inventory", host.WithMode(host.Read), host.NoWait())
	fmt.Println("reader beside the updater:", err)
	_, err = h.Named(ctx, "inventory", host.WithMode(host.Update), host.NoWait())
	fmt.Println("second updater:", errors.Is(err, host.ErrConflict))

	_ = r.Release(ctx)
	fmt.Println("upgrade:", u.Upgrade(ctx), u.Mode())
	_ = u.Release(ctx)
	// Output:
	// reader beside the updater: <nil>
	// second updater: true
	// upgrade: <nil> exclusive
}
