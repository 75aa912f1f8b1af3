package redis

import (
	"context"
	"errors"
	"strconv"
	"strings"
	"testing"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/locksmithx/locksmith/internal/redistest"
	"github.com/locksmithx/locksmith/sdk"
)

// TestSentinelFailover forces SENTINEL FAILOVER while sessions hold
// entries, after WAIT confirmed the replica has every write. Outcome: the
// store follows the new primary; every entry, every session (with its TTL)
// and every revision survive; the next revision is above every one handed
// out before; Watch replays across the failover. Without the WAIT the
// replica may lack the last writes (see README.md): then the newest entries
// and revisions can be lost and tokens handed out again. The same holds for
// writes the old primary accepts after the promotion and before the
// sentinel demotes it, so the test waits for the demotion too.
func TestSentinelFailover(t *testing.T) {
	set := redistest.StartSentinels(t, redistest.WithAOF("always"))
	s := open(t, []string{set.Sentinel.Addr}, sdk.Config{"master_name": redistest.SentinelMaster})
	ctx := ctxT(t)

	info, _ := s.Info(ctx)
	if !hasWarning(info, "failover") {
		t.Fatalf("sentinel: warnings %q, want one about failover", info.Warnings)
	}
	a := mustSession(t, s, 30*time.Second)
	b := mustSession(t, s, 30*time.Second)
	var last int64
	for i := 0; i < 6; i++ {
		sess := a
		if i%2 == 1 {
			sess = b
		}
		p, err := s.Put(ctx, sdk.PutRequest{Resource: "fo" + strconv.Itoa(i%3), Key: "k" + strconv.Itoa(i), Session: sess})
		if err != nil {
			t.Fatal(err)
		}
		last = max(last, p.ModRev)
	}
	before, err := s.Range(ctx, "fo0")
	if err != nil {
		t.Fatal(err)
	}

	waitReplicated(t, ctx, set.Primary.Addr)
	set.Failover(t)

	var after sdk.RangeResult
	retry(t, "range after failover", func() (err error) { after, err = s.Range(ctx, "fo0"); return err })
	if after.Rev != before.Rev || len(after.Entries) != len(before.Entries) {
		t.Fatalf("after failover %+v, before %+v: replicated state lost", after, before)
	}
	for _, id := range []string{a, b} {
		retry(t, "keep alive after failover", func() error { _, err := s.KeepAlive(ctx, id); return err })
	}
	var p sdk.PutResult
	retry(t, "put after failover", func() (err error) {
		p, err = s.Put(ctx, sdk.PutRequest{Resource: "fo0", Key: "new", Session: a})
		return err
	})
	if p.CreateRev <= before.Rev {
		t.Fatalf("revision after failover %d, want above %d", p.CreateRev, before.Rev)
	}
	var events []sdk.Event
	wctx, cancel := context.WithCancel(ctx)
	defer cancel()
	err = s.Watch(wctx, "fo0", 1, func(ev sdk.Event) error {
		events = append(events, ev)
		if ev.Rev == p.CreateRev {
			cancel()
		}
		return nil
	})
	if !errors.Is(err, context.Canceled) || int64(len(events)) != p.CreateRev {
		t.Fatalf("watch across the failover: %d events, %v; want %d", len(events), err, p.CreateRev)
	}
	if err := s.Revoke(ctx, b); err != nil {
		t.Fatal(err)
	}
	t.Logf("failover kept %d entries at revision %d; next revision %d", len(after.Entries), after.Rev, p.CreateRev)
}

// retry calls f until it succeeds, while it fails with ErrUnavailable (the
// client has not yet followed the failover), for at most 20s.
func retry(t *testing.T, what string, f func() error) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		err := f()
		if err == nil {
			return
		}
		if !errors.Is(err, sdk.ErrUnavailable) || time.Now().After(deadline) {
			t.Fatalf("%s: %v", what, err)
		}
		t.Logf("%s, not yet: %v", what, err)
		time.Sleep(100 * time.Millisecond)
	}
}

// waitReplicated makes one write on a connection of its own and WAITs
// until a replica acknowledges it; replication is in order, so every
// earlier write of any client has reached the replica too.
func waitReplicated(t *testing.T, ctx context.Context, addr string) {
	t.Helper()
	rdb := goredis.NewClient(&goredis.Options{Addr: addr, Protocol: 2})
	defer rdb.Close()
	conn := rdb.Conn()
	defer conn.Close()
	if err := conn.Set(ctx, "redistest:wait", "1", 0).Err(); err != nil {
		t.Fatal(err)
	}
	n, err := conn.Do(ctx, "WAIT", 1, 5000).Int()
	if err != nil || n < 1 {
		t.Fatalf("WAIT 1 5000: %d replicas, %v", n, err)
	}
}

func hasWarning(info sdk.PluginInfo, word string) bool {
	for _, w := range info.Warnings {
		if strings.Contains(w, word) {
			return true
		}
	}
	return false
}
