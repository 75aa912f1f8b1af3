package host_test

import (
	"context"
	"fmt"
)

// fencedStore stands for a storage service that takes a fencing token with
// every write and refuses tokens older than one it has seen, so a holder
// that lost its lock (paused, partitioned) cannot overwrite the work of
// the next one.
type fencedStore struct{ highest int64 }

func (s *fencedStore) write(token int64) error {
	if token < s.highest {
		return fmt.Errorf("stale fencing token %d: %d was seen", token, s.highest)
	}
	s.highest = token
	return nil
}

func ExampleLease_Token() {
	h, stop := exampleHost()
	defer stop()
	ctx := context.Background()
	store := &fencedStore{}

	first, _ := h.Named(ctx, "report")
	old := first.Token()
	_ = first.Release(ctx)
	second, _ := h.Named(ctx, "report")
	defer second.Release(ctx)

	fmt.Println("token increased:", second.Token() > old)
	fmt.Println("new holder writes:", store.write(second.Token()))
	fmt.Println("old holder refused:", store.write(old) != nil)
	// Output:
	// token increased: true
	// new holder writes: <nil>
	// old holder refused: true
}
