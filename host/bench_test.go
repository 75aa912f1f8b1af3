package host

import (
	"context"
	"os"
	"path/filepath"
	"sort"
	"syscall"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/locksmithx/locksmith/sdk"
)

// The units the host's costs are counted in, measured in the same run as
// the host's own benchmarks (bench_backends_test.go): a raw flock, a bare
// gRPC round trip to a plugin process, and a plugin's start. Each reports
// p50 and p99 in µs. Run them all with `make bench`.

// latencies collects one duration per iteration and reports percentiles.
type latencies []time.Duration

func (l latencies) report(b *testing.B) {
	if len(l) == 0 {
		return
	}
	b.ReportMetric(l.at(0.50), "p50-µs")
	b.ReportMetric(l.at(0.99), "p99-µs")
}

// at is the p-th percentile in µs (0 for none); it sorts l.
func (l latencies) at(p float64) float64 {
	if len(l) == 0 {
		return 0
	}
	sort.Slice(l, func(i, j int) bool { return l[i] < l[j] })
	i := min(int(float64(len(l))*p), len(l)-1)
	return float64(l[i].Nanoseconds()) / 1e3
}

func (l latencies) p50() float64 { return l.at(0.50) }

// BenchmarkRawFlock is the floor: flock(LOCK_EX) then flock(LOCK_UN) on a
// file opened once.
func BenchmarkRawFlock(b *testing.B) {
	f, err := os.Create(filepath.Join(b.TempDir(), "raw"))
	if err != nil {
		b.Fatal(err)
	}
	defer f.Close()
	lat := make(latencies, 0, b.N)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		t := time.Now()
		if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX); err != nil {
			b.Fatal(err)
		}
		if err := syscall.Flock(int(f.Fd()), syscall.LOCK_UN); err != nil {
			b.Fatal(err)
		}
		lat = append(lat, time.Since(t))
	}
	lat.report(b)
}

// BenchmarkGRPCRoundTrip is one bare unary gRPC call to the plugin process
// (Health), the unit the host's costs are counted in.
func BenchmarkGRPCRoundTrip(b *testing.B) {
	h := newTestHost(b, b.TempDir())
	ctx := context.Background()
	be, _, err := h.Backend(ctx)
	if err != nil {
		b.Fatal(err)
	}
	lat := make(latencies, 0, b.N)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		t := time.Now()
		if err := be.Health(ctx); err != nil {
			b.Fatal(err)
		}
		lat = append(lat, time.Since(t))
	}
	lat.report(b)
}

// BenchmarkGRPCStreamRoundTrip is one message each way on an open gRPC
// stream to the plugin process (a session's KeepAlive stream, whose
// renewal on the file store is a check of the session's flock): what each
// operation would cost if a session's calls travelled on one stream
// instead of one unary call each. Compare it with BenchmarkGRPCRoundTrip
// in the same run.
func BenchmarkGRPCStreamRoundTrip(b *testing.B) {
	h := newTestHost(b, b.TempDir())
	ctx := context.Background()
	be, _, err := h.Backend(ctx)
	if err != nil {
		b.Fatal(err)
	}
	s, err := be.OpenSession(ctx, 30*time.Second, nil)
	if err != nil {
		b.Fatal(err)
	}
	defer be.Revoke(ctx, s.ID)
	if _, err := be.KeepAlive(ctx, s.ID); err != nil { // opens the stream
		b.Fatal(err)
	}
	lat := make(latencies, 0, b.N)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		t := time.Now()
		if _, err := be.KeepAlive(ctx, s.ID); err != nil {
			b.Fatal(err)
		}
		lat = append(lat, time.Since(t))
	}
	lat.report(b)
}

// BenchmarkPluginReady is the time from starting the plugin process until
// it is configured and ready to serve.
func BenchmarkPluginReady(b *testing.B) {
	cfg := testConfig(b.TempDir())
	spec := pluginSpec{Name: "file", Path: filePlugin, Source: SourceConfig}
	lat := make(latencies, 0, b.N)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		s := newSupervisor(spec, sdk.Config(cfg.Plugin("file").Config), hclog.NewNullLogger())
		g, err := s.get(context.Background())
		if err != nil {
			b.Fatal(err)
		}
		lat = append(lat, g.ready)
		s.close()
	}
	lat.report(b)
}
