package file

import (
	"context"
	"fmt"
	"runtime"
	"testing"
	"time"

	"github.com/locksmithx/locksmith/sdk"
)

// BenchmarkRangeResources reads every resource of a store holding 10⁴
// named locks, in process: the file store's share of a host's Tree.
func BenchmarkRangeResources(b *testing.B) {
	s := newStore(b, b.TempDir())
	ctx := context.Background()
	sess, err := s.OpenSession(ctx, time.Minute, nil)
	if err != nil {
		b.Fatal(err)
	}
	const n = 10000
	for i := 0; i < n; i++ {
		if _, err := s.Put(ctx, sdk.PutRequest{Resource: fmt.Sprintf("bench/%05d", i), Key: "k", Session: sess.ID, IfAbsent: true}); err != nil {
			b.Fatal(err)
		}
	}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		rs, err := sdk.RangeResources(ctx, s, "")
		if err != nil {
			b.Fatal(err)
		}
		if len(rs) != n {
			b.Fatalf("%d resources, want %d", len(rs), n)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Milliseconds())/float64(b.N), "ms/read-of-10⁴")
}

// TestWidenRestores: a one-CPU process reading many resources uses more
// CPUs until the last overlapping read ends, then one again; a process
// that already uses several is left alone.
func TestWidenRestores(t *testing.T) {
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(1))
	first := widen()
	want := min(runtime.NumCPU(), rangeWorkers)
	if got := runtime.GOMAXPROCS(0); got != want {
		t.Fatalf("GOMAXPROCS during a bulk read = %d, want %d", got, want)
	}
	second := widen()
	first()
	if got := runtime.GOMAXPROCS(0); got != want {
		t.Fatalf("GOMAXPROCS while a second read lasts = %d, want %d", got, want)
	}
	second()
	if got := runtime.GOMAXPROCS(0); got != 1 {
		t.Fatalf("GOMAXPROCS after the reads = %d, want 1", got)
	}
	runtime.GOMAXPROCS(2)
	widen()()
	if got := runtime.GOMAXPROCS(0); got != 2 {
		t.Fatalf("GOMAXPROCS of a process on 2 CPUs after a read = %d, want 2", got)
	}
}
