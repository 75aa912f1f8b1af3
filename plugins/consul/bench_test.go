package consul

import (
	"context"
	"fmt"
	"sort"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hashicorp/consul/api"

	"github.com/locksmithx/locksmith/internal/consultest"
	"github.com/locksmithx/locksmith/sdk"
)

// latencies collects per-operation durations and reports their
// percentiles beside ns/op.
type latencies []time.Duration

func (l *latencies) time(f func()) {
	start := time.Now()
	f()
	*l = append(*l, time.Since(start))
}

func (l latencies) report(b *testing.B) {
	if len(l) == 0 {
		return
	}
	sort.Slice(l, func(i, j int) bool { return l[i] < l[j] })
	pct := func(p float64) float64 {
		return float64(l[min(len(l)-1, int(p*float64(len(l))))].Nanoseconds()) / 1e3
	}
	b.ReportMetric(pct(0.50), "p50-µs")
	b.ReportMetric(pct(0.99), "p99-µs")
}

// BenchmarkConsul measures, side by side on one Consul dev agent:
//
//   - cycle: one uncontended acquire and release — raw api.Lock (a
//     session made beforehand, then Lock and Unlock: a KV acquire and
//     release), and this store's put-with-range plus delete, in-process
//     and through the plugin's gRPC connection;
//
//   - handoff: from the holder's release call until the waiter holds —
//     api.Lock's blocking-query handoff (Unlock, then the waiter's Lock
//     returns), and this store's (Delete, then the waiter's Watch
//     delivers it);
//
//   - throughput: 8 contenders, each with a session of its own, taking
//     one lock in turn (ops/s) — api.Lock and the store's lock recipe
//     (put with range, watch for the entries ahead, delete).
//
//     go test -run '^$' -bench . -benchtime 1000x ./plugins/consul/
func BenchmarkConsul(b *testing.B) {
	agent := consultest.StartDev(b)
	ctx := context.Background()
	client := rawClient(b, agent.Addr)

	b.Run("cycle/raw-api-lock", func(b *testing.B) {
		sess := rawSession(b, client)
		l, err := client.LockOpts(&api.LockOptions{Key: "raw/cycle", Session: sess})
		if err != nil {
			b.Fatal(err)
		}
		var lat latencies
		b.ResetTimer()
		for range b.N {
			lat.time(func() {
				if _, err := l.Lock(nil); err != nil {
					b.Fatal(err)
				}
				if err := l.Unlock(); err != nil {
					b.Fatal(err)
				}
			})
		}
		b.StopTimer()
		lat.report(b)
	})
	for _, mode := range []string{"store", "store-grpc"} {
		b.Run("cycle/"+mode, func(b *testing.B) {
			var be sdk.Backend = open(b, agent.Addr, sdk.Config{"prefix": "bench-" + mode + "/"})
			if mode == "store-grpc" {
				be = sdk.TestBackendConn(b, be)
			}
			sess, err := be.OpenSession(ctx, 30*time.Second, nil)
			if err != nil {
				b.Fatal(err)
			}
			var lat latencies
			b.ResetTimer()
			for range b.N {
				lat.time(func() {
					p, err := be.Put(ctx, sdk.PutRequest{Resource: "lock", Key: "k", Session: sess.ID, IfAbsent: true, WithRange: true})
					if err != nil || len(p.Entries) != 1 {
						b.Fatalf("put: %+v %v", p, err)
					}
					if _, err := be.Delete(ctx, sdk.DeleteRequest{Resource: "lock", Key: "k", ExpectRev: p.ModRev}); err != nil {
						b.Fatalf("delete: %v", err)
					}
				})
			}
			b.StopTimer()
			lat.report(b)
		})
	}

	b.Run("handoff/raw-api-lock", func(b *testing.B) { benchRawHandoff(b, client) })
	b.Run("handoff/store", func(b *testing.B) {
		benchHandoff(b, open(b, agent.Addr, sdk.Config{"prefix": "bench-handoff/"}))
	})

	b.Run("throughput8/raw-api-lock", func(b *testing.B) {
		var locks [8]*api.Lock
		for i := range locks {
			l, err := client.LockOpts(&api.LockOptions{Key: "raw/throughput", Session: rawSession(b, client)})
			if err != nil {
				b.Fatal(err)
			}
			locks[i] = l
		}
		contend(b, func(i int) {
			if _, err := locks[i].Lock(nil); err != nil {
				b.Error(err)
				return
			}
			if err := locks[i].Unlock(); err != nil {
				b.Error(err)
			}
		})
	})
	b.Run("throughput8/store", func(b *testing.B) {
		s := open(b, agent.Addr, sdk.Config{"prefix": "bench-throughput/"})
		var sessions [8]string
		for i := range sessions {
			sess, err := s.OpenSession(ctx, 30*time.Second, nil)
			if err != nil {
				b.Fatal(err)
			}
			sessions[i] = sess.ID
		}
		var n atomic.Int64
		contend(b, func(i int) {
			key := sessions[i] + "/" + strconv.FormatInt(n.Add(1), 10)
			if err := lockOnce(ctx, s, "lock", sessions[i], key); err != nil {
				b.Error(err)
			}
		})
	})
}

// contend runs b.N turns of take over 8 goroutines and reports turns per
// second.
func contend(b *testing.B, take func(i int)) {
	var left atomic.Int64
	left.Store(int64(b.N))
	var wg sync.WaitGroup
	b.ResetTimer()
	start := time.Now()
	for i := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for left.Add(-1) >= 0 && !b.Failed() {
				take(i)
			}
		}()
	}
	wg.Wait()
	b.StopTimer()
	b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "locks/s")
}

// lockOnce takes and releases the lock on resource as the host's recipe
// does: put with range; if an entry is ahead, watch until none is; delete.
func lockOnce(ctx context.Context, s *Store, resource, session, key string) error {
	p, err := s.Put(ctx, sdk.PutRequest{Resource: resource, Key: key, Session: session, IfAbsent: true, WithRange: true})
	if err != nil {
		return err
	}
	ahead := map[string]bool{}
	for _, e := range p.Entries {
		if e.CreateRev < p.CreateRev {
			ahead[e.Key] = true
		}
	}
	if len(ahead) > 0 {
		wctx, cancel := context.WithCancel(ctx)
		errFirst := fmt.Errorf("first")
		err := s.Watch(wctx, resource, p.Rev+1, func(ev sdk.Event) error {
			if ev.Type == sdk.EventDelete {
				delete(ahead, ev.Entry.Key)
			}
			if len(ahead) == 0 {
				return errFirst
			}
			return nil
		})
		cancel()
		if err != errFirst {
			return err
		}
	}
	_, err = s.Delete(ctx, sdk.DeleteRequest{Resource: resource, Key: key, ExpectRev: p.ModRev})
	return err
}

func rawClient(b *testing.B, addr string) *api.Client {
	cfg := api.DefaultConfig()
	cfg.Address = addr
	c, err := api.NewClient(cfg)
	if err != nil {
		b.Fatal(err)
	}
	return c
}

// rawSession makes a session as api.Lock would, without lock-delay.
func rawSession(b *testing.B, c *api.Client) string {
	id, _, err := c.Session().Create(&api.SessionEntry{Name: "bench", TTL: "30s", Behavior: api.SessionBehaviorRelease, LockDelay: time.Millisecond}, nil)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _, _ = c.Session().Destroy(id, nil) })
	return id
}

// benchRawHandoff: api.Lock A holds the key, api.Lock B waits in Lock (a
// blocking query); timed from A's Unlock call until B's Lock returns. The
// two swap roles every turn.
func benchRawHandoff(b *testing.B, c *api.Client) {
	var ls [2]*api.Lock
	for i := range ls {
		l, err := c.LockOpts(&api.LockOptions{Key: "raw/handoff", Session: rawSession(b, c)})
		if err != nil {
			b.Fatal(err)
		}
		ls[i] = l
	}
	if _, err := ls[0].Lock(nil); err != nil {
		b.Fatal(err)
	}
	var lat latencies
	b.ResetTimer()
	for i := range b.N {
		b.StopTimer()
		holder, waiter := ls[i%2], ls[(i+1)%2]
		got := make(chan error, 1)
		go func() {
			_, err := waiter.Lock(nil)
			got <- err
		}()
		// Untimed: let the waiter reach its blocking query.
		time.Sleep(2 * time.Millisecond)
		b.StartTimer()
		lat.time(func() {
			if err := holder.Unlock(); err != nil {
				b.Fatal(err)
			}
			if err := <-got; err != nil {
				b.Fatal(err)
			}
		})
	}
	b.StopTimer()
	lat.report(b)
	_ = ls[b.N%2].Unlock()
}

// benchHandoff: session A holds an entry, session B watches the resource;
// timed from A's Delete call until B's Watch delivers the delete.
func benchHandoff(b *testing.B, s sdk.Backend) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	a, err := s.OpenSession(ctx, 30*time.Second, nil)
	if err != nil {
		b.Fatal(err)
	}
	wb, err := s.OpenSession(ctx, 30*time.Second, nil)
	if err != nil {
		b.Fatal(err)
	}
	const res = "handoff"
	if _, err := s.Put(ctx, sdk.PutRequest{Resource: res, Key: "waiter", Session: wb.ID}); err != nil {
		b.Fatal(err)
	}
	deletes := make(chan int64, 1)
	rg, err := s.Range(ctx, res)
	if err != nil {
		b.Fatal(err)
	}
	watchDone := make(chan error, 1)
	go func() {
		watchDone <- s.Watch(ctx, res, rg.Rev+1, func(ev sdk.Event) error {
			if ev.Type == sdk.EventDelete && ev.Entry.Session == a.ID {
				deletes <- ev.Rev
			}
			return nil
		})
	}()
	var lat latencies
	b.ResetTimer()
	for range b.N {
		b.StopTimer()
		p, err := s.Put(ctx, sdk.PutRequest{Resource: res, Key: "holder", Session: a.ID, IfAbsent: true})
		if err != nil {
			b.Fatal(err)
		}
		// Untimed: let the watcher see the put and block again.
		time.Sleep(2 * time.Millisecond)
		b.StartTimer()
		lat.time(func() {
			d, err := s.Delete(ctx, sdk.DeleteRequest{Resource: res, Key: "holder", ExpectRev: p.ModRev})
			if err != nil {
				b.Fatal(err)
			}
			select {
			case rev := <-deletes:
				if rev != d.Rev {
					b.Fatalf("watch delivered delete %d, want %d", rev, d.Rev)
				}
			case err := <-watchDone:
				b.Fatalf("watch ended: %v", err)
			case <-time.After(10 * time.Second):
				b.Fatal("no delete event within 10s")
			}
		})
	}
	b.StopTimer()
	lat.report(b)
}
