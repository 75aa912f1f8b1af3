package redis

import (
	"flag"
	"strconv"
	"strings"
	"testing"

	"github.com/locksmithx/locksmith/internal/redistest"
	"github.com/locksmithx/locksmith/sdk"
	"github.com/locksmithx/locksmith/sdk/backendtest"
)

func TestConformanceSingle(t *testing.T) {
	srv := redistest.Start(t, redistest.WithAOF("always"))
	f := func(t *testing.T) sdk.Backend {
		return open(t, []string{srv.Addr}, sdk.Config{"prefix": "conf:", "history": 50})
	}
	backendtest.Run(t, f, backendtest.WithCrash(crash), backendtest.WithSharedStore(),
		backendtest.WithRestart(func(t *testing.T, b sdk.Backend) sdk.Backend { crash(t, b); return f(t) }))
}

// crash drops a store as a killed plugin process would: its sessions stay
// in Redis, unrevoked.
func crash(t *testing.T, b sdk.Backend) {
	if err := b.(*Store).Close(); err != nil {
		t.Fatalf("close store: %v", err)
	}
}

// TestConformanceCluster runs the suite on a 3-master Redis Cluster and
// checks that its resources landed in several slots on several masters.
func TestConformanceCluster(t *testing.T) {
	cl := redistest.StartCluster(t, 3)
	backendtest.Run(t, func(t *testing.T) sdk.Backend {
		return open(t, cl.Addrs()[:1], sdk.Config{"prefix": "conf:", "history": 50})
	})
	slots := map[int64]bool{}
	masters := 0
	for _, n := range cl.Nodes {
		out, err := n.Do("--scan", "--pattern", "conf:{*}:rev")
		if err != nil {
			t.Fatal(err)
		}
		if out != "" {
			masters++
		}
		for _, key := range strings.Fields(out) {
			slot, err := n.Do("CLUSTER", "KEYSLOT", key)
			if err != nil {
				t.Fatal(err)
			}
			v, _ := strconv.ParseInt(slot, 10, 64)
			slots[v] = true
		}
	}
	if !fullRun() {
		t.Logf("%d slots used on %d masters; not asserted, a -run filter picked the checks", len(slots), masters)
		return
	}
	if len(slots) < 10 || masters < 3 {
		t.Fatalf("resources used %d slots on %d masters; want them spread over many slots on all 3", len(slots), masters)
	}
	t.Logf("conformance resources spread over %d slots on %d masters", len(slots), masters)
}

// fullRun reports whether no -run filter narrowed this test.
func fullRun() bool {
	f := flag.Lookup("test.run")
	return f == nil || f.Value.String() == "" || f.Value.String() == "^TestConformanceCluster$"
}
