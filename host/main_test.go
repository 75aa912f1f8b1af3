package host

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/locksmithx/locksmith/config"
	"github.com/locksmithx/locksmith/internal/testbin"
)

// filePlugin, redisPlugin and consulPlugin are the backends' binaries,
// memoryPlugin the example backend (which cannot adopt sessions), and
// auditPlugin a middleware (testdata/auditmw), built once for the
// package's tests.
var filePlugin, redisPlugin, consulPlugin, memoryPlugin, auditPlugin string

// auditMiddleware and rbacMiddleware are the shipped middleware plugins.
var auditMiddleware, rbacMiddleware, cryptoMiddleware, cacheMiddleware string

func TestMain(m *testing.M) {
	testbin.Main(m, map[string]string{
		"locksmith-plugin-file":    "./plugins/file/cmd/locksmith-plugin-file",
		"locksmith-plugin-redis":   "./plugins/redis/cmd/locksmith-plugin-redis",
		"locksmith-plugin-memory":  "./examples/memory-backend/cmd/locksmith-plugin-memory",
		"locksmith-plugin-consul":  "./plugins/consul/cmd/locksmith-plugin-consul",
		"locksmith-plugin-auditmw": "./host/testdata/auditmw",
		"locksmith-plugin-audit":   "./plugins/audit/cmd/locksmith-plugin-audit",
		"locksmith-plugin-rbac":    "./plugins/rbac/cmd/locksmith-plugin-rbac",
		"locksmith-plugin-crypto":  "./plugins/crypto/cmd/locksmith-plugin-crypto",
		"locksmith-plugin-cache":   "./plugins/cache/cmd/locksmith-plugin-cache",
	}, func(dir string) {
		filePlugin = filepath.Join(dir, "locksmith-plugin-file")
		redisPlugin = filepath.Join(dir, "locksmith-plugin-redis")
		memoryPlugin = filepath.Join(dir, "locksmith-plugin-memory")
		consulPlugin = filepath.Join(dir, "locksmith-plugin-consul")
		auditPlugin = filepath.Join(dir, "locksmith-plugin-auditmw")
		auditMiddleware = filepath.Join(dir, "locksmith-plugin-audit")
		rbacMiddleware = filepath.Join(dir, "locksmith-plugin-rbac")
		cryptoMiddleware = filepath.Join(dir, "locksmith-plugin-crypto")
		cacheMiddleware = filepath.Join(dir, "locksmith-plugin-cache")
	})
}

// testConfig is a config whose file backend keeps all its state under dir.
func testConfig(dir string) config.Config {
	cfg := config.Default()
	cfg.Lease.TTL = 3 * time.Second
	cfg.Plugins["file"] = config.Plugin{Path: filePlugin, Config: map[string]any{
		"named_dir":   filepath.Join(dir, "named"),
		"session_dir": filepath.Join(dir, "sessions"),
	}}
	return cfg
}

// redisConfig is a config on the Redis backend at addr, keys under prefix.
func redisConfig(addr, prefix string) config.Config {
	cfg := config.Default()
	cfg.Backend = "redis"
	cfg.Lease.TTL = 3 * time.Second
	cfg.Plugins["redis"] = config.Plugin{Path: redisPlugin, Config: map[string]any{
		"addrs": []any{addr}, "prefix": prefix,
	}}
	return cfg
}

// consulConfig is a config on the Consul backend at addr, keys under
// prefix.
func consulConfig(addr, prefix string) config.Config {
	cfg := config.Default()
	cfg.Backend = "consul"
	cfg.Lease.TTL = 3 * time.Second
	cfg.Plugins["consul"] = config.Plugin{Path: consulPlugin, Config: map[string]any{
		"address": addr, "prefix": prefix,
	}}
	return cfg
}

// newHostFrom starts a host with cfg; it is closed when the test ends.
func newHostFrom(t testing.TB, cfg config.Config) *Host {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	h, err := New(ctx, cfg)
	if err != nil {
		t.Fatalf("new host: %v", err)
	}
	t.Cleanup(func() { _ = h.Close() })
	return h
}

// newTestHost starts a host on the file backend under dir; it is closed
// when the test ends.
func newTestHost(t testing.TB, dir string) *Host {
	t.Helper()
	return newHostFrom(t, testConfig(dir))
}

func testCtx(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	t.Cleanup(cancel)
	return ctx
}
