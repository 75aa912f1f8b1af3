package file

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/locksmithx/locksmith/sdk"
)

// TestListingDoesNotWaitForAWriter: a listing reads a state file another
// process holds locked (a change in progress) without waiting for it, and
// finds the last committed state.
func TestListingDoesNotWaitForAWriter(t *testing.T) {
	dir := t.TempDir()
	writer := newStore(t, dir)
	sess := openSession(t, writer, time.Minute)
	mustPut(t, writer, sdk.PutRequest{Resource: "r", Key: "a", Session: sess, Value: []byte("v")})

	reader := newStore(t, dir)
	if _, err := reader.Range(testCtx(t), "r"); err != nil {
		t.Fatal(err)
	}
	holdStateLock(t, reader, "r")
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	rs, err := reader.RangeResources(ctx, "")
	if err != nil {
		t.Fatalf("listing while another process holds the state's lock: %v", err)
	}
	if len(rs) != 1 || len(rs[0].Entries) != 1 || rs[0].Entries[0].Key != "a" || string(rs[0].Entries[0].Value) != "v" {
		t.Fatalf("listing: %+v", rs)
	}
}

// TestListingFallsBackToTheLock: what a read without the lock cannot vouch
// for is read under it, as Range reads it: damage is reported, and the
// entries of a dead session are purged.
func TestListingFallsBackToTheLock(t *testing.T) {
	dir := t.TempDir()
	s := newStore(t, dir)
	sess := openSession(t, s, time.Minute)
	mustPut(t, s, sdk.PutRequest{Resource: "damaged", Key: "a", Session: sess})
	mustPut(t, s, sdk.PutRequest{Resource: "damaged", Key: "b", Session: sess})

	other := newStore(t, dir)
	dead := openSession(t, other, time.Minute)
	mustPut(t, other, sdk.PutRequest{Resource: "orphaned", Key: "x", Session: dead})
	mustPut(t, s, sdk.PutRequest{Resource: "orphaned", Key: "y", Session: sess})
	killSession(other, dead)
	// Past the probe interval (20 ms), s asks again whether it lives.
	time.Sleep(60 * time.Millisecond)

	// Both files are open in s, so the listing tries each without the
	// lock first.
	path, _ := s.cfg.statePath("damaged")
	garble(t, path, slotOffset(currentSlot(t, path))+slotHeaderSize+4, 16)

	_, err := s.RangeResources(testCtx(t), "")
	if sdk.CodeOf(err) != sdk.CodeCorrupt || !strings.Contains(err.Error(), path) {
		t.Fatalf("listing a damaged state: %v, want a corruption error naming %s", err, path)
	}
	r, err := s.rangeForListing(testCtx(t), "orphaned")
	if err != nil {
		t.Fatal(err)
	}
	if len(r.Entries) != 1 || r.Entries[0].Key != "y" {
		t.Fatalf("orphaned: %+v, want only y (x's session is dead)", r.Entries)
	}
}

// TestListingDuringWrites: while another store rewrites four resources as
// fast as it can, listings read without the lock see only states that
// were committed: every entry's value is the one written at its ModRev,
// and a resource's revision never goes back.
func TestListingDuringWrites(t *testing.T) {
	dir := t.TempDir()
	writer := newStore(t, dir)
	reader := newStore(t, dir)
	sess := openSession(t, writer, time.Minute)
	const nres = 4
	var mu sync.Mutex
	written := map[string]string{} // resource@modrev → value
	modRevs := make([]int64, nres)
	for i := range nres {
		r := mustPut(t, writer, sdk.PutRequest{Resource: fmt.Sprintf("r%d", i), Key: "k", Session: sess, Value: []byte("0")})
		modRevs[i] = r.ModRev
		written[fmt.Sprintf("r%d@%d", i, r.ModRev)] = "0"
	}
	if _, err := reader.RangeResources(testCtx(t), ""); err != nil {
		t.Fatal(err)
	}

	ctx := testCtx(t)
	stop := make(chan struct{})
	done := make(chan error, 1)
	go func() {
		for n := 1; ; n++ {
			select {
			case <-stop:
				done <- nil
				return
			default:
			}
			i := n % nres
			// Values of changing length move the payload's end.
			v := strings.Repeat(fmt.Sprint(n), 1+n%7)
			res, err := writer.Update(ctx, sdk.UpdateRequest{Resource: fmt.Sprintf("r%d", i), Key: "k", Value: []byte(v), ExpectRev: modRevs[i]})
			if err != nil {
				done <- err
				return
			}
			modRevs[i] = res.ModRev
			mu.Lock()
			written[fmt.Sprintf("r%d@%d", i, res.ModRev)] = v
			mu.Unlock()
		}
	}()

	type seen struct {
		key, value string
	}
	var observed []seen
	lastRev := map[string]int64{}
	for range 300 {
		rs, err := reader.RangeResources(ctx, "")
		if err != nil {
			close(stop)
			t.Fatalf("listing during writes: %v", err)
		}
		for _, rr := range rs {
			if rr.Rev < lastRev[rr.Resource] {
				close(stop)
				t.Fatalf("%s went back from revision %d to %d", rr.Resource, lastRev[rr.Resource], rr.Rev)
			}
			lastRev[rr.Resource] = rr.Rev
			if len(rr.Entries) != 1 {
				close(stop)
				t.Fatalf("%s: %d entries", rr.Resource, len(rr.Entries))
			}
			e := rr.Entries[0]
			observed = append(observed, seen{fmt.Sprintf("%s@%d", rr.Resource, e.ModRev), string(e.Value)})
		}
	}
	close(stop)
	if err := <-done; err != nil {
		t.Fatalf("writer: %v", err)
	}
	mu.Lock()
	defer mu.Unlock()
	distinct := map[string]bool{}
	for _, o := range observed {
		want, ok := written[o.key]
		if !ok || want != o.value {
			t.Fatalf("listed %s = %q, but the writer wrote %q (known: %v)", o.key, o.value, want, ok)
		}
		distinct[o.key] = true
	}
	t.Logf("%d listings saw %d distinct committed states of %d written", 300, len(distinct), len(written))
}
