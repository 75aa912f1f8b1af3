package host

import (
	"strings"
	"testing"
	"time"
)

// TestHeldListsHierarchicalLeavesOnly: the intention locks a hierarchical
// lease takes on its ancestors are part of it, not leases of their own.
func TestHeldListsHierarchicalLeavesOnly(t *testing.T) {
	h := newTestHost(t, t.TempDir())
	ctx := testCtx(t)
	leaf, err := h.Hierarchical(ctx, "p/q/r")
	if err != nil {
		t.Fatal(err)
	}
	plain := mustLock(t, h, "plain")
	held := h.Held()
	var got []string
	for _, l := range held {
		got = append(got, l.Resource())
	}
	if len(held) != 2 || held[0] != leaf || held[1] != plain {
		t.Fatalf("Held() = %v, want [p/q/r plain]", got)
	}
	if err := leaf.Release(ctx); err != nil {
		t.Fatal(err)
	}
	if held := h.Held(); len(held) != 1 || held[0] != plain {
		t.Fatalf("Held() after releasing the hierarchical lease: %d leases", len(held))
	}
}

// TestCloseReleasesLeavesBeforeAncestors: Close releases every
// hierarchical lease before the intention locks above it, so no lock on
// an ancestor could be granted while a lock below is still held.
func TestCloseReleasesLeavesBeforeAncestors(t *testing.T) {
	dir := t.TempDir()
	h, err := New(testCtx(t), testConfig(dir))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = h.Close() })
	ctx := testCtx(t)
	leaves := []string{"a/b/c", "d/e/f", "g/h/i", "j/k/l", "m/n/o/p"}
	for _, n := range leaves {
		if _, err := h.Hierarchical(ctx, n); err != nil {
			t.Fatal(err)
		}
	}
	events, stop := h.Subscribe(64)
	defer stop()
	if err := h.Close(); err != nil {
		t.Fatal(err)
	}
	released := map[string]int{} // resource -> position in release order
	for n := 0; n < 16; n++ {
		select {
		case ev := <-events:
			if ev.Kind != EventReleased {
				t.Fatalf("event %v on %s during Close", ev.Kind, ev.Resource)
			}
			released[ev.Resource] = n
		case <-time.After(5 * time.Second):
			t.Fatalf("%d releases seen, want 16: %v", n, released)
		}
	}
	for _, leaf := range leaves {
		parts := strings.Split(leaf, "/")
		for i := len(parts); i > 1; i-- {
			below, above := strings.Join(parts[:i], "/"), strings.Join(parts[:i-1], "/")
			if released[below] > released[above] {
				t.Errorf("Close released %s (#%d) before %s below it (#%d)", above, released[above], below, released[below])
			}
		}
	}
}
