package cache

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/locksmithx/locksmith/sdk"
)

type clock struct{ t time.Time }

func (c *clock) now() time.Time { return c.t }

func newCache(t *testing.T, cfg sdk.Config) (*Middleware, *clock) {
	t.Helper()
	m := New()
	if err := m.Configure(context.Background(), cfg); err != nil {
		t.Fatal(err)
	}
	c := &clock{t: time.Unix(1000, 0)}
	m.now = c.now
	return m, c
}

func call(t *testing.T, m *Middleware, in sdk.Interception) sdk.Verdict {
	t.Helper()
	v, err := m.Intercept(context.Background(), in)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func answer(rev int) []byte {
	return []byte(`{"resource":"r","revision":` + string(rune('0'+rev)) + `,"holders":[],"waiters":[]}`)
}

func TestAnswersWithinTTL(t *testing.T) {
	m, c := newCache(t, sdk.Config{"ttl": "1s"})
	before := sdk.Interception{Phase: sdk.Before, Op: sdk.OpStatus, Resource: "r"}
	if v := call(t, m, before); v.Action == sdk.Respond {
		t.Fatal("answered before anything was stored")
	}
	call(t, m, sdk.Interception{Phase: sdk.After, Op: sdk.OpStatus, Resource: "r", Response: answer(3)})
	c.t = c.t.Add(900 * time.Millisecond)
	if v := call(t, m, before); v.Action != sdk.Respond || string(v.Response) != string(answer(3)) {
		t.Fatalf("within the TTL: %+v", v)
	}
	// Its own answer coming back through AFTER does not refresh it.
	call(t, m, sdk.Interception{Phase: sdk.After, Op: sdk.OpStatus, Resource: "r", Response: answer(3)})
	c.t = c.t.Add(200 * time.Millisecond)
	if v := call(t, m, before); v.Action == sdk.Respond {
		t.Fatal("answered past the TTL")
	}
}

func TestChangesInvalidate(t *testing.T) {
	m, c := newCache(t, sdk.Config{"ttl": "1m"})
	before := sdk.Interception{Phase: sdk.Before, Op: sdk.OpStatus, Resource: "r"}
	store := func(rev int, latency time.Duration) {
		call(t, m, sdk.Interception{Phase: sdk.After, Op: sdk.OpStatus, Resource: "r", Response: answer(rev), Latency: latency})
	}
	for _, ev := range []sdk.Interception{
		{Phase: sdk.After, Op: sdk.OpChange, Resource: "r", Revision: 4},
		{Phase: sdk.After, Op: sdk.OpRelease, Resource: "r"},
		{Phase: sdk.After, Op: sdk.OpAcquire, Resource: "r"},
		{Phase: sdk.After, Op: sdk.OpLost, Resource: "r"},
	} {
		store(5, 0)
		if v := call(t, m, before); v.Action != sdk.Respond {
			t.Fatalf("%s: nothing cached", ev.Op)
		}
		call(t, m, ev)
		if v := call(t, m, before); v.Action == sdk.Respond {
			t.Fatalf("answered after %s", ev.Op)
		}
		c.t = c.t.Add(time.Second)
	}
	// A read older than the last change it heard of is not stored.
	call(t, m, sdk.Interception{Phase: sdk.After, Op: sdk.OpChange, Resource: "r", Revision: 6})
	store(5, 0)
	if v := call(t, m, before); v.Action == sdk.Respond {
		t.Fatalf("stored a read of a revision older than a change: %s", v.Response)
	}
	c.t = c.t.Add(time.Second)
	call(t, m, sdk.Interception{Phase: sdk.After, Op: sdk.OpRelease, Resource: "r"})
	c.t = c.t.Add(10 * time.Millisecond)
	store(7, 50*time.Millisecond)
	if v := call(t, m, before); v.Action == sdk.Respond {
		t.Fatalf("stored a stale read: %s", v.Response)
	}
}

func TestNeverAnswersAGrant(t *testing.T) {
	m, _ := newCache(t, sdk.Config{})
	call(t, m, sdk.Interception{Phase: sdk.After, Op: sdk.OpStatus, Resource: "r", Response: answer(3)})
	for _, op := range []string{sdk.OpAcquire, sdk.OpConvert, sdk.OpRelease} {
		if v := call(t, m, sdk.Interception{Phase: sdk.Before, Op: op, Resource: "r"}); v.Action != sdk.Continue {
			t.Fatalf("%s: %+v", op, v)
		}
	}
	info, _ := m.Info(context.Background())
	for _, p := range info.Points {
		if strings.HasPrefix(p, "before_") && p != "before_status" {
			t.Fatalf("declares %s", p)
		}
	}
}

func TestConfigErrors(t *testing.T) {
	for _, tc := range []struct {
		cfg  sdk.Config
		want string
	}{{sdk.Config{"tll": "1s"}, "tll"}, {sdk.Config{"ttl": "forever"}, "ttl:"}, {sdk.Config{"max_entries": -1}, "max_entries:"}} {
		if err := New().Configure(context.Background(), tc.cfg); !errors.Is(err, sdk.ErrInvalidConfig) || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%v: %v", tc.cfg, err)
		}
	}
}
