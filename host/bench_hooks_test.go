package host

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/locksmithx/locksmith/config"
)

// BenchmarkHooksChain is an uncontended acquire + release on the file
// backend through hooks chains of 0, 1 ([audit]) and 3 ([rbac, crypto,
// audit]) middleware plugins, beside a bare gRPC round trip to a plugin in
// the same run. Acquire + release through [rbac, crypto, audit] makes five
// middleware calls: rbac before each, crypto before acquire, audit after
// each. The audit log is written with fsync: never, so the rows count
// plugin round trips, not the disk; "audit-fsync" is the same chain of 1
// syncing every line.
func BenchmarkHooksChain(b *testing.B) {
	keyFile := filepath.Join(b.TempDir(), "key")
	if err := os.WriteFile(keyFile, []byte(key1+"\n"), 0o600); err != nil {
		b.Fatal(err)
	}
	chain := func(dir string, fsync string, names ...string) config.Config {
		cfg := testConfig(dir)
		cfg.Middleware = names
		cfg.Plugins["audit"] = config.Plugin{Path: auditMiddleware, Config: map[string]any{"path": filepath.Join(dir, "audit.log"), "fsync": fsync}}
		cfg.Plugins["crypto"] = config.Plugin{Path: cryptoMiddleware, Config: map[string]any{"key_file": keyFile}}
		cfg.Plugins["rbac"] = config.Plugin{Path: rbacMiddleware, Config: map[string]any{
			"roles":    map[string]any{"ops": []any{"acquire", "release"}},
			"bindings": map[string]any{principal(): []any{"ops"}},
			"rules":    []any{map[string]any{"role": "ops", "resources": []any{"bench/*"}}},
		}}
		return cfg
	}
	b.Run("roundtrip", BenchmarkGRPCRoundTrip)
	for _, tc := range []struct {
		name  string
		fsync string
		chain []string
	}{
		{"chain=0", "never", nil},
		{"chain=1", "never", []string{"audit"}},
		{"chain=3", "never", []string{"rbac", "crypto", "audit"}},
		{"audit-fsync", "always", []string{"audit"}},
	} {
		b.Run(tc.name, func(b *testing.B) {
			dir := b.TempDir()
			h := newHostFrom(b, chain(dir, tc.fsync, tc.chain...))
			ctx := context.Background()
			warm, err := h.Named(ctx, "bench/r", WithMeta("purpose", "bench"))
			if err != nil {
				b.Fatal(err)
			}
			if err := warm.Release(ctx); err != nil {
				b.Fatal(err)
			}
			lat := make(latencies, 0, b.N)
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				t := time.Now()
				l, err := h.Named(ctx, "bench/r", WithMeta("purpose", "bench"))
				if err != nil {
					b.Fatal(err)
				}
				if err := l.Release(ctx); err != nil {
					b.Fatal(err)
				}
				lat = append(lat, time.Since(t))
			}
			lat.report(b)
		})
	}
}
