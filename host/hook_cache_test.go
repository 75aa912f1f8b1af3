package host

import (
	"testing"
	"time"

	"github.com/locksmithx/locksmith/config"
)

// TestCacheDropsReleasedHolder: a host with the cache (TTL one minute)
// answers a repeated status read from the cache, and stops showing a
// holder another host released once the watch event has arrived, long
// before the TTL.
func TestCacheDropsReleasedHolder(t *testing.T) {
	dir := t.TempDir()
	cfg := testConfig(dir)
	cfg.Middleware = []string{"cache"}
	cfg.Plugins["cache"] = config.Plugin{Path: cacheMiddleware, Config: map[string]any{"ttl": "1m"}}
	reader := newHostFrom(t, cfg)
	holder := newTestHost(t, dir)
	ctx := testCtx(t)

	l := mustLock(t, holder, "r")
	first, err := reader.Status(ctx, "r")
	if err != nil || len(first.Holders) != 1 {
		t.Fatalf("status: %+v, %v", first, err)
	}
	again, err := reader.Status(ctx, "r")
	if err != nil || len(again.Holders) != 1 || again.Holders[0].Age != first.Holders[0].Age {
		t.Fatalf("second read not answered from the cache: age %v then %v (%v)", first.Holders[0].Age, again.Holders[0].Age, err)
	}
	if err := l.Release(ctx); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(15 * time.Second)
	for {
		st, err := reader.Status(ctx, "r")
		if err != nil {
			t.Fatal(err)
		}
		if len(st.Holders) == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the released holder is still shown: %+v", st)
		}
		time.Sleep(20 * time.Millisecond)
	}
	// The reader's own release drops its cached answer at once.
	own := mustLock(t, reader, "mine")
	if st, _ := reader.Status(ctx, "mine"); len(st.Holders) != 1 {
		t.Fatalf("own holder not shown: %+v", st)
	}
	if err := own.Release(ctx); err != nil {
		t.Fatal(err)
	}
	if st, err := reader.Status(ctx, "mine"); err != nil || len(st.Holders) != 0 {
		t.Fatalf("status right after the reader's own release: %+v, %v", st, err)
	}
}
