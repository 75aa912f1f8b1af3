package host

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"

	"github.com/locksmithx/locksmith/sdk"
)

// gatedBackend answers puts (and batches of them) only when its gate
// opens, and records what reached it.
type gatedBackend struct {
	sdk.Backend
	gate chan struct{}

	mu      sync.Mutex
	singles []string
	batches [][]string
	fail    error // the next Batch call's error
}

func (g *gatedBackend) Put(ctx context.Context, req sdk.PutRequest) (sdk.PutResult, error) {
	g.mu.Lock()
	g.singles = append(g.singles, req.Key)
	g.mu.Unlock()
	<-g.gate
	return sdk.PutResult{Rev: 1, Entries: []sdk.Entry{{Key: req.Key}}}, nil
}

func (g *gatedBackend) Batch(ctx context.Context, ops []sdk.BatchOp) ([]sdk.BatchResult, error) {
	var keys []string
	for _, op := range ops {
		keys = append(keys, op.Put.Key)
	}
	g.mu.Lock()
	g.batches = append(g.batches, keys)
	err := g.fail
	g.fail = nil
	g.mu.Unlock()
	<-g.gate
	if err != nil {
		return nil, err
	}
	out := make([]sdk.BatchResult, len(ops))
	for i, op := range ops {
		out[i].Put = sdk.PutResult{Rev: 2, Entries: []sdk.Entry{{Key: op.Put.Key}}}
	}
	return out, nil
}

func (g *gatedBackend) seen() (singles []string, batches [][]string) {
	g.mu.Lock()
	defer g.mu.Unlock()
	return append([]string(nil), g.singles...), append([][]string(nil), g.batches...)
}

// A coalescer sends a write at once while fewer than maxFlights calls are
// in flight; later writes wait and go out together in one Batch call when
// a call returns, each caller getting its own op's result; a waiting
// write whose caller gives up is never sent.
func TestCoalescerBatchesBeyondFlights(t *testing.T) {
	be := &gatedBackend{gate: make(chan struct{})}
	var stats writeStats
	c := newCoalescer(be, &stats)
	ctx := context.Background()
	type res struct {
		key string
		r   sdk.PutResult
		err error
	}
	results := make(chan res, 16)
	put := func(ctx context.Context, key string) {
		r, err := c.put(ctx, sdk.PutRequest{Key: key})
		results <- res{key, r, err}
	}
	for i := range maxFlights {
		go put(ctx, fmt.Sprintf("direct-%d", i))
	}
	waitFor(t, func() bool { s, _ := be.seen(); return len(s) == maxFlights })
	for i := range 5 {
		go put(ctx, fmt.Sprintf("waiting-%d", i))
	}
	gaveUp, cancel := context.WithCancel(ctx)
	go put(gaveUp, "given-up")
	waitFor(t, func() bool { c.mu.Lock(); defer c.mu.Unlock(); return len(c.pending) == 6 })
	cancel()
	r := <-results
	if r.key != "given-up" || !errors.Is(r.err, context.Canceled) {
		t.Fatalf("the write whose caller gave up: %+v", r)
	}
	close(be.gate)
	got := map[string]res{}
	for range maxFlights + 5 {
		r := <-results
		got[r.key] = r
	}
	singles, batches := be.seen()
	if len(singles) != maxFlights || len(batches) != 1 || len(batches[0]) != 5 {
		t.Fatalf("calls: %d single %v, batches %v; want %d single and one batch of the 5 waiting", len(singles), singles, batches, maxFlights)
	}
	for _, k := range batches[0] {
		if k == "given-up" {
			t.Fatal("a write whose caller gave up was sent")
		}
		if r := got[k]; r.err != nil || r.r.Rev != 2 || r.r.Entries[0].Key != k {
			t.Errorf("%s: got %+v, want its own op's result from the batch", k, r)
		}
	}
	if stats.batches.Load() != 1 || stats.writes.Load() != 5 {
		t.Errorf("stats: %d batches, %d writes; want 1 and 5", stats.batches.Load(), stats.writes.Load())
	}
}

// A Batch call that fails as a whole fails every write it carried, with
// its error, as a failed call would.
func TestCoalescerBatchErrorReachesEveryCaller(t *testing.T) {
	be := &gatedBackend{gate: make(chan struct{}), fail: sdk.Errorf(sdk.CodeUnavailable, "plugin gone")}
	c := newCoalescer(be, &writeStats{})
	ctx := context.Background()
	errs := make(chan error, 8)
	for i := range maxFlights + 3 {
		go func() {
			_, err := c.put(ctx, sdk.PutRequest{Key: fmt.Sprint(i)})
			errs <- err
		}()
		if i == maxFlights-1 {
			waitFor(t, func() bool { s, _ := be.seen(); return len(s) == maxFlights })
		}
	}
	waitFor(t, func() bool { c.mu.Lock(); defer c.mu.Unlock(); return len(c.pending) == 3 })
	close(be.gate)
	failed := 0
	for range maxFlights + 3 {
		if err := <-errs; err != nil {
			if sdk.CodeOf(err) != sdk.CodeUnavailable {
				t.Errorf("error %v, want the batch's", err)
			}
			failed++
		}
	}
	if failed != 3 {
		t.Fatalf("%d writes failed, want the 3 of the failed batch", failed)
	}
}
