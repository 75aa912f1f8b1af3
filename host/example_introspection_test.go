package host_test

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"

	"github.com/locksmithx/locksmith/host"
)

func ExampleHost_Held() {
	h, stop := exampleHost()
	defer stop()
	ctx := context.Background()

	_, _ = h.Named(ctx, "alpha")
	_, _ = h.Named(ctx, "beta", host.WithMode(host.Shared))
	var held []string
	for _, l := range h.Held() {
		held = append(held, l.Resource()+" "+l.Mode().String())
	}
	sort.Strings(held)
	fmt.Println(strings.Join(held, ", "))
	// Output:
	// alpha exclusive, beta shared
}

func ExampleHost_Status() {
	hs, stop := exampleHosts(2)
	defer stop()
	ctx := context.Background()

	l, _ := hs[0].Named(ctx, "deploy", host.WithMeta("by", "ci"))
	wctx, cancel := context.WithCancel(ctx)
	waiter := make(chan struct{})
	go func() {
		_, _ = hs[1].Named(wctx, "deploy", host.WithMode(host.Shared))
		close(waiter)
	}()
	waitForWaiters(hs[0], "deploy", 1)

	st, _ := hs[0].Status(ctx, "deploy")
	for _, r := range st.Holders {
		fmt.Println("holder:", r.Mode, "by", r.Meta["by"], "token is the lease's:", r.Token == l.Token())
	}
	for _, r := range st.Waiters {
		fmt.Println("waiter:", r.Mode, "at position", r.Position)
	}
	cancel()
	<-waiter
	_ = l.Release(ctx)
	// Output:
	// holder: exclusive by ci token is the lease's: true
	// waiter: shared at position 1
}

// Tree arranges every locked resource by the "/"-separated parts of its
// name: the hierarchy of hierarchical locks, the directories of file locks.
func ExampleHost_Tree() {
	h, stop := exampleHost()
	defer stop()
	ctx := context.Background()

	_, _ = h.Hierarchical(ctx, "site/db/users", host.WithMode(host.Shared))
	_, _ = h.Named(ctx, "site/cache")
	tree, err := h.Tree(ctx)
	if err != nil {
		fmt.Println(err)
		return
	}
	var show func(n *host.TreeNode, depth int)
	show = func(n *host.TreeNode, depth int) {
		for _, c := range n.Children {
			var modes []string
			if c.Status != nil {
				for _, r := range c.Status.Holders {
					modes = append(modes, r.Mode)
				}
			}
			fmt.Printf("%s%s %v\n", strings.Repeat("  ", depth), c.Name, modes)
			show(c, depth+1)
		}
	}
	show(tree, 0)
	// Output:
	// site [IS]
	//   cache [exclusive]
	//   db [IS]
	//     users [shared]
}

func ExampleHost_Subscribe() {
	h, stop := exampleHost()
	defer stop()
	ctx := context.Background()
	events, unsubscribe := h.Subscribe(16)
	defer unsubscribe()

	l, _ := h.Named(ctx, "job")
	_, _ = h.Named(ctx, "job", host.NoWait())
	_ = l.Convert(ctx, host.Shared)
	_ = l.Release(ctx)
	for range 4 {
		ev := <-events
		fmt.Println(ev.Kind, ev.Resource, ev.Mode, errors.Is(ev.Err, host.ErrConflict))
	}
	// Output:
	// acquired job exclusive false
	// failed job exclusive true
	// converted job shared false
	// released job shared false
}

func ExampleHost_Metrics() {
	h, stop := exampleHost()
	defer stop()
	ctx := context.Background()

	l, _ := h.Named(ctx, "job")
	_, _ = h.Named(ctx, "job", host.NoWait())
	_ = l.Release(ctx)
	m := h.Metrics()
	fmt.Printf("acquired %d, conflicts %d, released %d, active %d, success rate %.2f\n",
		m.Acquisitions, m.Conflicts, m.Releases, m.Active, m.SuccessRate)
	fmt.Println("hold times recorded:", m.Hold.Count)
	// Output:
	// acquired 1, conflicts 1, released 1, active 0, success rate 0.50
	// hold times recorded: 1
}
