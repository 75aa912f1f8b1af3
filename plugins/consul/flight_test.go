package consul

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/locksmithx/locksmith/sdk"
)

// TestFlightsShareOneRead: callers asking for the same revisions of a
// resource while a read is in flight get its result without reading.
func TestFlightsShareOneRead(t *testing.T) {
	f := newFlights()
	var reads atomic.Int32
	read := func() ([]sdk.Event, error) {
		reads.Add(1)
		// Hold the read until the three others have joined it.
		deadline := time.Now().Add(10 * time.Second)
		for {
			f.mu.Lock()
			fl := f.m["7-7/r"]
			joined := fl != nil && fl.joined == 3
			f.mu.Unlock()
			if joined {
				break
			}
			if time.Now().After(deadline) {
				t.Error("three callers did not join the read within 10s")
				break
			}
			time.Sleep(time.Millisecond)
		}
		return []sdk.Event{{Rev: 7}}, nil
	}
	var wg sync.WaitGroup
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			evs, err := f.do(context.Background(), "r", 7, 7, read)
			if err != nil || len(evs) != 1 || evs[0].Rev != 7 {
				t.Errorf("do: %v %v", evs, err)
			}
		}()
	}
	wg.Wait()
	if n := reads.Load(); n != 1 {
		t.Fatalf("%d reads for 4 callers at once, want 1", n)
	}
	if _, err := f.do(context.Background(), "r", 8, 8, func() ([]sdk.Event, error) { reads.Add(1); return nil, nil }); err != nil || reads.Load() != 2 {
		t.Fatalf("a later read of other revisions: %v, %d reads", err, reads.Load())
	}
	if len(f.m) != 0 {
		t.Fatal("a finished flight was kept")
	}
}
