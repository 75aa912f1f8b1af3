package redis

import (
	"context"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/locksmithx/locksmith/internal/redistest"
	"github.com/locksmithx/locksmith/sdk"
)

// TestPluginBinary builds locksmith-plugin-redis, starts it with sdk.Launch
// as a host would, and uses it over gRPC; stopping the plugin revokes its
// sessions, so their entries are gone at once, not after their TTL.
func TestPluginBinary(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the plugin binary")
	}
	srv := redistest.Start(t, redistest.WithAOF("always"))
	bin := filepath.Join(t.TempDir(), "locksmith-plugin-redis")
	if out, err := exec.Command("go", "build", "-o", bin, "./cmd/locksmith-plugin-redis").CombinedOutput(); err != nil {
		t.Fatalf("build plugin: %v\n%s", err, out)
	}
	conn, err := sdk.Launch(exec.Command(bin), sdk.KindBackend)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Kill()
	b := conn.Backend()
	ctx := ctxT(t)
	if err := b.Configure(ctx, sdk.Config{"addrs": []any{srv.Addr}, "tls": sdk.Config{"insecure_skip_verify": true, "bogus": 1}}); !isInvalidConfig(err) {
		t.Fatalf("configure with an unknown tls key: %v, want ErrInvalidConfig", err)
	}
	if err := b.Configure(ctx, sdk.Config{"addrs": []any{srv.Addr}}); err != nil {
		t.Fatal(err)
	}
	info, err := b.Info(ctx)
	if err != nil || info.Name != "redis" || !info.Has(sdk.CapPersistent) || !info.Has(sdk.CapWatch) {
		t.Fatalf("info: %+v %v", info, err)
	}
	sess, err := b.OpenSession(ctx, 30*time.Second, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := b.KeepAlive(ctx, sess.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := b.Put(ctx, sdk.PutRequest{Resource: "bin", Key: "k", Session: sess.ID}); err != nil {
		t.Fatal(err)
	}
	conn.Kill()

	direct := open(t, []string{srv.Addr}, sdk.Config{"prefix": DefaultPrefix})
	r, err := direct.Range(context.Background(), "bin")
	if err != nil || len(r.Entries) != 0 {
		t.Fatalf("after the plugin stopped: %+v %v; want its session revoked and the entry gone", r, err)
	}
}

func isInvalidConfig(err error) bool { return sdk.CodeOf(err) == sdk.CodeInvalidConfig }

// TestWatcherClearsOrphan: an entry whose session is gone without the
// registry knowing it (a Put that raced the session's expiry in Cluster)
// is removed by a watcher of its resource, which delivers the delete, on a
// single node and on a cluster.
func TestWatcherClearsOrphan(t *testing.T) {
	single := redistest.Start(t)
	cl := redistest.StartCluster(t, 3)
	for name, addrs := range map[string][]string{"single": {single.Addr}, "cluster": cl.Addrs()} {
		t.Run(name, func(t *testing.T) {
			s := open(t, addrs, nil)
			ctx := ctxT(t)
			a := mustSession(t, s, 300*time.Millisecond)
			if _, err := s.Put(ctx, sdk.PutRequest{Resource: "orphan", Key: "k", Session: a}); err != nil {
				t.Fatal(err)
			}
			// Forget the session as if the sweep had run before the entry
			// was written.
			if err := s.c.rdb.SRem(ctx, s.c.keys.registry(), a).Err(); err != nil {
				t.Fatal(err)
			}
			if err := s.c.rdb.Del(ctx, s.c.keys.sessionResources(a)).Err(); err != nil {
				t.Fatal(err)
			}
			watcher := open(t, addrs, nil)
			mustSession(t, watcher, 300*time.Millisecond) // sets its check pace
			got := make(chan sdk.Event, 1)
			wctx, cancel := context.WithCancel(ctx)
			defer cancel()
			go func() { _ = watcher.Watch(wctx, "orphan", 2, func(ev sdk.Event) error { got <- ev; return nil }) }()
			select {
			case ev := <-got:
				if ev.Type != sdk.EventDelete || ev.Entry.Session != a {
					t.Fatalf("event %+v, want the orphan's delete", ev)
				}
			case <-time.After(3 * time.Second):
				t.Fatal("watcher did not clear the orphaned entry within 3s")
			}
		})
	}
}
