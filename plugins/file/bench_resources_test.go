package file

import (
	"context"
	"fmt"
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
