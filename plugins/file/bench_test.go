package file

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"syscall"
	"testing"
	"time"

	"github.com/locksmithx/locksmith/sdk"
)

// BenchmarkRawFlock is the floor under every store operation: flock
// LOCK_EX and LOCK_UN on a descriptor opened once.
func BenchmarkRawFlock(b *testing.B) {
	f, err := os.Create(filepath.Join(b.TempDir(), "raw"))
	if err != nil {
		b.Fatal(err)
	}
	defer f.Close()
	lat := make([]time.Duration, 0, b.N)
	b.ResetTimer()
	for range b.N {
		start := time.Now()
		if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX); err != nil {
			b.Fatal(err)
		}
		if err := syscall.Flock(int(f.Fd()), syscall.LOCK_UN); err != nil {
			b.Fatal(err)
		}
		lat = append(lat, time.Since(start))
	}
	reportPercentiles(b, lat)
}

// BenchmarkPutRangeDelete is an uncontended acquire and release as the host
// does it: Put with WithRange, then Delete naming the revision; in process,
// through an in-memory gRPC connection, and through a real plugin process.
func BenchmarkPutRangeDelete(b *testing.B) {
	b.Run("inprocess", func(b *testing.B) { benchPutRangeDelete(b, newStore(b, b.TempDir())) })
	b.Run("grpc", func(b *testing.B) { benchPutRangeDelete(b, sdk.TestBackendConn(b, newStore(b, b.TempDir()))) })
	b.Run("plugin", func(b *testing.B) { benchPutRangeDelete(b, launch(b, b.TempDir()).Backend()) })
}

func benchPutRangeDelete(b *testing.B, be sdk.Backend) {
	ctx := context.Background()
	sess, err := be.OpenSession(ctx, time.Minute, nil)
	if err != nil {
		b.Fatal(err)
	}
	req := sdk.PutRequest{Resource: "bench", Key: sess.ID + "/1", Value: []byte(`{"mode":"X","owner":"bench"}`), Session: sess.ID, WithRange: true}
	lat := make([]time.Duration, 0, b.N)
	b.ResetTimer()
	for range b.N {
		start := time.Now()
		p, err := be.Put(ctx, req)
		if err != nil {
			b.Fatal(err)
		}
		if len(p.Entries) != 1 {
			b.Fatalf("range has %d entries", len(p.Entries))
		}
		if _, err := be.Delete(ctx, sdk.DeleteRequest{Resource: req.Resource, Key: req.Key, ExpectRev: p.ModRev}); err != nil {
			b.Fatal(err)
		}
		lat = append(lat, time.Since(start))
	}
	b.StopTimer()
	reportPercentiles(b, lat)
}

func reportPercentiles(b *testing.B, lat []time.Duration) {
	if len(lat) == 0 {
		return
	}
	slices.Sort(lat)
	at := func(q float64) float64 { return float64(lat[int(q*float64(len(lat)-1))].Nanoseconds()) }
	b.ReportMetric(at(0.50), "p50-ns")
	b.ReportMetric(at(0.99), "p99-ns")
}

// BenchmarkPluginRoundTrip is the transport floor under the plugin case of
// BenchmarkPutRangeDelete: two Health calls (a put and a delete are two
// round trips) to a real plugin process.
func BenchmarkPluginRoundTrip(b *testing.B) {
	be := launch(b, b.TempDir()).Backend()
	ctx := context.Background()
	lat := make([]time.Duration, 0, b.N)
	b.ResetTimer()
	for range b.N {
		start := time.Now()
		for range 2 {
			if err := be.Health(ctx); err != nil {
				b.Fatal(err)
			}
		}
		lat = append(lat, time.Since(start))
	}
	b.StopTimer()
	reportPercentiles(b, lat)
}

// BenchmarkHandoff is the wake-up a waiter in another process gets: store
// A holds the lock, store B waits for it (Put, then Watch for A's entry to
// go), A releases; the time is from A's release to B's grant. The stores
// are separate, as separate processes are, so the wake-up crosses stores
// through the change notification, not an in-process channel. Polling is
// effectively off (1m), so a missed wake-up shows as a huge p99.
func BenchmarkHandoff(b *testing.B) {
	dir := b.TempDir()
	slow := func(c sdk.Config) { c["poll_interval"] = "1m"; c["probe_interval"] = "10s" }
	holder, waiter := newStore(b, dir, slow), newStore(b, dir, slow)
	hs, ws := openSession(b, holder, time.Minute), openSession(b, waiter, time.Minute)
	ctx := context.Background()
	lat := make([]time.Duration, 0, b.N)
	b.ResetTimer()
	for i := range b.N {
		hkey := fmt.Sprintf("h%d", i)
		h, err := holder.Put(ctx, sdk.PutRequest{Resource: "handoff", Key: hkey, Session: hs})
		if err != nil {
			b.Fatal(err)
		}
		granted := make(chan time.Time, 1)
		errc, done := make(chan error, 1), make(chan error, 1)
		go func() {
			p, err := acquire(ctx, waiter, "handoff", ws, fmt.Sprintf("w%d", i))
			if err != nil {
				errc <- err
				return
			}
			granted <- time.Now()
			_, err = waiter.Delete(ctx, sdk.DeleteRequest{Resource: "handoff", Key: fmt.Sprintf("w%d", i), ExpectRev: p.ModRev})
			done <- err
		}()
		// Release once the waiter is queued behind the holder.
		for range 10000 {
			rg, err := holder.Range(ctx, "handoff")
			if err != nil {
				b.Fatal(err)
			}
			if len(rg.Entries) == 2 {
				break
			}
			time.Sleep(50 * time.Microsecond)
		}
		time.Sleep(time.Millisecond) // let the waiter block in Watch
		if _, err := holder.Delete(ctx, sdk.DeleteRequest{Resource: "handoff", Key: hkey, ExpectRev: h.ModRev}); err != nil {
			b.Fatal(err)
		}
		released := time.Now()
		select {
		case at := <-granted:
			lat = append(lat, at.Sub(released))
		case err := <-errc:
			b.Fatal(err)
		}
		if err := <-done; err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	reportPercentiles(b, lat)
}

// BenchmarkDecodePayload decodes the state another process wrote: a queue
// of 100 entries and a full history, as a waiter's store reads it after
// each change it did not make itself.
func BenchmarkDecodePayload(b *testing.B) {
	st := newState("bench", "", 0)
	for i := range 100 {
		st.put(fmt.Sprintf("session-%04d/request-%d", i, i), fmt.Sprintf("session-%04d", i), []byte(`{"mode":"X","pid":12345,"host":"bench"}`))
	}
	for range historyEvents {
		st.update(0, []byte(`{"mode":"X","pid":12345,"host":"bench"}`))
	}
	p := st.appendPayload(nil)
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		if _, err := decodePayload(p); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(len(p)), "payload-B")
}
