package redis

import (
	"context"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/go-redsync/redsync/v4"
	rsgoredis "github.com/go-redsync/redsync/v4/redis/goredis/v9"
	goredis "github.com/redis/go-redis/v9"

	"github.com/locksmithx/locksmith/internal/redistest"
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

// serverTime is the time redis-server has spent executing commands, as
// INFO commandstats counts it (scripts include the commands they call;
// network and queueing are not counted).
func serverTime(b *testing.B, rdb *goredis.Client) time.Duration {
	b.Helper()
	info, err := rdb.Info(context.Background(), "commandstats").Result()
	if err != nil {
		b.Fatal(err)
	}
	var usec int64
	for _, line := range strings.Split(info, "\n") {
		name, stats, ok := strings.Cut(strings.TrimSpace(line), ":")
		if !ok || !strings.HasPrefix(name, "cmdstat_") || strings.HasPrefix(name, "cmdstat_info") || strings.HasPrefix(name, "cmdstat_config") {
			continue
		}
		for _, f := range strings.Split(stats, ",") {
			if v, ok := strings.CutPrefix(f, "usec="); ok {
				n, _ := strconv.ParseInt(v, 10, 64)
				usec += n
			}
		}
	}
	return time.Duration(usec) * time.Microsecond
}

// serverCPU is redis-server's CPU time, user and system, as INFO cpu
// reports it: its execution time and also its network work (reading
// requests, writing replies, epoll), which commandstats leaves out.
func serverCPU(b *testing.B, rdb *goredis.Client) time.Duration {
	b.Helper()
	info, err := rdb.Info(context.Background(), "cpu").Result()
	if err != nil {
		b.Fatal(err)
	}
	var sec float64
	for _, line := range strings.Split(info, "\n") {
		name, v, ok := strings.Cut(strings.TrimSpace(line), ":")
		if ok && (name == "used_cpu_sys" || name == "used_cpu_user") {
			f, _ := strconv.ParseFloat(v, 64)
			sec += f
		}
	}
	return time.Duration(sec * float64(time.Second))
}

// serverTimer reports redis-server's execution time per operation beside
// the latencies: the part of a cycle spent in Redis itself, steadier than
// latency on a busy machine (redis-µs/op). commandstats counts a script's
// own commands twice, in the script's time and in their own rows, so the
// figure overstates a script-heavy cycle by its commands' time. It also
// reports Redis's whole CPU time per operation (redis-cpu-µs/op), network
// work included.
type serverTimer struct {
	rdb      *goredis.Client
	start    time.Duration
	cpuStart time.Duration
}

func startServerTimer(b *testing.B, addr string) *serverTimer {
	rdb := goredis.NewClient(&goredis.Options{Addr: addr, Protocol: 2})
	b.Cleanup(func() { _ = rdb.Close() })
	return &serverTimer{rdb: rdb, start: serverTime(b, rdb), cpuStart: serverCPU(b, rdb)}
}

func (st *serverTimer) report(b *testing.B) {
	if b.N == 0 {
		return
	}
	used := serverTime(b, st.rdb) - st.start
	cpu := serverCPU(b, st.rdb) - st.cpuStart
	b.ReportMetric(float64(used.Nanoseconds())/1e3/float64(b.N), "redis-µs/op")
	b.ReportMetric(float64(cpu.Nanoseconds())/1e3/float64(b.N), "redis-cpu-µs/op")
}

// rawCycle is the raw recipe's acquire and release: SET NX PX of a token,
// then a Lua compare-and-delete of it.
func rawCycle(b *testing.B, rdb *goredis.Client, i int) {
	ctx := context.Background()
	token := strconv.Itoa(i)
	if ok, err := rdb.SetNX(ctx, "raw:lock", token, 30*time.Second).Result(); err != nil || !ok {
		b.Fatalf("SET NX: %v %v", ok, err)
	}
	if n, err := compareAndDelete.Run(ctx, rdb, []string{"raw:lock"}, token).Int(); err != nil || n != 1 {
		b.Fatalf("compare-and-delete: %v %v", n, err)
	}
}

var compareAndDelete = goredis.NewScript(`
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0`)

// BenchmarkLockCycle measures one uncontended acquire and release, side by
// side on one redis-server: the raw go-redis recipe (SET NX PX, then a Lua
// compare-and-delete), redsync's mutex, and this store's put-with-range
// plus delete in-process and through the plugin's gRPC connection, and
// in-process behind a queue of 8 other sessions' entries (store-queue8);
// then the handoff from a deleting session to a watching one. It runs once
// on a server with appendfsync always (every write waits for fsync) and
// once on one without persistence. Besides ns/op and the p50/p99 latency
// of a cycle, the raw and store runs report redis-µs/op: redis-server's
// own execution time per cycle, which a busy machine disturbs less.
//
//	go test -run '^$' -bench . -benchtime 2000x ./plugins/redis/
func BenchmarkLockCycle(b *testing.B) {
	b.Run("aof-always", func(b *testing.B) { benchLockCycle(b, redistest.Start(b, redistest.WithAOF("always"))) })
	b.Run("no-persistence", func(b *testing.B) { benchLockCycle(b, redistest.Start(b)) })
}

func benchLockCycle(b *testing.B, srv *redistest.Server) {
	ctx := context.Background()

	b.Run("raw-setnx-cad", func(b *testing.B) {
		rdb := goredis.NewClient(&goredis.Options{Addr: srv.Addr, Protocol: 2})
		defer rdb.Close()
		var lat latencies
		st := startServerTimer(b, srv.Addr)
		b.ResetTimer()
		for i := 0; i < b.N; i++ {
			lat.time(func() { rawCycle(b, rdb, i) })
		}
		b.StopTimer()
		lat.report(b)
		st.report(b)
	})

	b.Run("redsync", func(b *testing.B) {
		rdb := goredis.NewClient(&goredis.Options{Addr: srv.Addr, Protocol: 2})
		defer rdb.Close()
		rs := redsync.New(rsgoredis.NewPool(rdb))
		var lat latencies
		b.ResetTimer()
		for i := 0; i < b.N; i++ {
			m := rs.NewMutex("redsync:lock", redsync.WithExpiry(30*time.Second), redsync.WithTries(1))
			lat.time(func() {
				if err := m.LockContext(ctx); err != nil {
					b.Fatalf("lock: %v", err)
				}
				if ok, err := m.UnlockContext(ctx); err != nil || !ok {
					b.Fatalf("unlock: %v %v", ok, err)
				}
			})
		}
		b.StopTimer()
		lat.report(b)
	})

	for _, mode := range []string{"store", "store-grpc", "store-queue8"} {
		b.Run(mode, func(b *testing.B) {
			var be sdk.Backend = open(b, []string{srv.Addr}, sdk.Config{"prefix": "bench-" + mode + ":"})
			if mode == "store-grpc" {
				be = sdk.TestBackendConn(b, be)
			}
			want := 1
			if mode == "store-queue8" {
				want += queueAhead(b, be, "lock", 8)
			}
			sess, err := be.OpenSession(ctx, 30*time.Second, nil)
			if err != nil {
				b.Fatal(err)
			}
			var lat latencies
			st := startServerTimer(b, srv.Addr)
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				lat.time(func() {
					p, err := be.Put(ctx, sdk.PutRequest{Resource: "lock", Key: "k", Session: sess.ID, IfAbsent: true, WithRange: true})
					if err != nil || len(p.Entries) != want {
						b.Fatalf("put: %+v %v", p, err)
					}
					if _, err := be.Delete(ctx, sdk.DeleteRequest{Resource: "lock", Key: "k", ExpectRev: p.ModRev}); err != nil {
						b.Fatalf("delete: %v", err)
					}
				})
			}
			b.StopTimer()
			lat.report(b)
			st.report(b)
		})
	}

	b.Run("handoff", func(b *testing.B) {
		benchHandoff(b, open(b, []string{srv.Addr}, sdk.Config{"prefix": "bench-handoff:"}))
	})
}

// queueAhead puts n entries on resource, each from a session of its own
// with a request-sized value, as a queue of n waiters would; it returns n.
func queueAhead(b *testing.B, be sdk.Backend, resource string, n int) int {
	ctx := context.Background()
	for i := 0; i < n; i++ {
		sess, err := be.OpenSession(ctx, 30*time.Second, nil)
		if err != nil {
			b.Fatal(err)
		}
		value := []byte(`{"mode":"exclusive","pid":4242,"host":"bench","created":1795637317551857134}`)
		if _, err := be.Put(ctx, sdk.PutRequest{Resource: resource, Key: "waiter-" + strconv.Itoa(i), Value: value, Session: sess.ID}); err != nil {
			b.Fatal(err)
		}
	}
	return n
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
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		p, err := s.Put(ctx, sdk.PutRequest{Resource: res, Key: "holder", Session: a.ID, IfAbsent: true})
		if err != nil {
			b.Fatal(err)
		}
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

// ExampleStore shows the store used directly, as the host uses it.
func ExampleStore() {
	s := New()
	ctx := context.Background()
	if err := s.Configure(ctx, sdk.Config{"addrs": []any{"127.0.0.1:6379"}}); err != nil {
		fmt.Println(err)
		return
	}
	defer s.Close()
	sess, _ := s.OpenSession(ctx, 15*time.Second, nil)
	p, _ := s.Put(ctx, sdk.PutRequest{Resource: "db-migration", Key: sess.ID + "/1", Session: sess.ID, IfAbsent: true, WithRange: true})
	fmt.Println("fencing token:", p.CreateRev, "first in line:", p.Entries[0].CreateRev == p.CreateRev)
}

// BenchmarkScriptFloor splits Redis's own time per lock cycle (put with
// range, then delete; redis-µs/op as in BenchmarkLockCycle) into what any
// script call with the store's keys and arguments costs and what the
// store's scripts add, on one server without persistence. raw-setnx-cad is
// the raw recipe, for scale; floor runs two scripts that only return a
// reply of the store's shape, with the store's keys and arguments; store
// runs the store's own put and delete scripts.
//
//	go test -run '^$' -bench ScriptFloor -benchtime 4000x ./plugins/redis/
func BenchmarkScriptFloor(b *testing.B) {
	srv := redistest.Start(b)
	ctx := context.Background()
	b.Run("raw-setnx-cad", func(b *testing.B) {
		rdb := goredis.NewClient(&goredis.Options{Addr: srv.Addr, Protocol: 2})
		defer rdb.Close()
		st := startServerTimer(b, srv.Addr)
		b.ResetTimer()
		for i := 0; i < b.N; i++ {
			rawCycle(b, rdb, i)
		}
		b.StopTimer()
		st.report(b)
	})
	floorPut := goredis.NewScript(`return {'ok', 1, 1, 1, {ARGV[6], ARGV[7], ARGV[8], 1, 1}}`)
	floorDelete := goredis.NewScript(`return {'ok', 2, 1, 1, {}}`)
	for _, mode := range []string{"floor", "store"} {
		b.Run(mode, func(b *testing.B) {
			s := open(b, []string{srv.Addr}, sdk.Config{"prefix": "floor-" + mode + ":"})
			c, err := s.conn()
			if err != nil {
				b.Fatal(err)
			}
			sess, err := s.OpenSession(ctx, 30*time.Second, nil)
			if err != nil {
				b.Fatal(err)
			}
			put, del := putScript, deleteScript
			if mode == "floor" {
				put, del = floorPut, floorDelete
			}
			preq := sdk.PutRequest{Resource: "lock", Key: "k", Session: sess.ID, IfAbsent: true, WithRange: true}
			st := startServerTimer(b, srv.Addr)
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				keys, argv := c.putArgs(preq)
				rep, err := c.scriptReply("put", preq.Resource, put.Run(ctx, c.rdb, keys, argv...))
				if err != nil || rep.status != "ok" {
					b.Fatalf("put: %+v %v", rep, err)
				}
				keys, argv = c.deleteArgs(sdk.DeleteRequest{Resource: "lock", Key: "k", ExpectRev: rep.modRev})
				if rep, err := c.scriptReply("delete", "lock", del.Run(ctx, c.rdb, keys, argv...)); err != nil || rep.status != "ok" {
					b.Fatalf("delete: %+v %v", rep, err)
				}
			}
			b.StopTimer()
			st.report(b)
		})
	}
}
