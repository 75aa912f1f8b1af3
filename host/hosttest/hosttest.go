// Package hosttest runs the host's lock semantics on a backend, through
// real hosts and real plugin processes: the suite a backend's author runs
// beside sdk/backendtest to see that locks built on the store behave.
//
//	func TestLockSemantics(t *testing.T) {
//		hosttest.Run(t, func(t *testing.T) config.Config {
//			cfg := config.Default()
//			cfg.Backend = "acme"
//			cfg.Plugins["acme"] = config.Plugin{Path: pluginBinary, Config: map[string]any{"path": db}}
//			return cfg
//		})
//	}
//
// Every check starts several hosts from configs the factory returns (each
// host starts its own plugin process, as `locksmith exec` does), so the
// configs must name one shared store. Checks use resource names of their
// own, so successive checks may share that store.
package hosttest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/locksmithx/locksmith/config"
	"github.com/locksmithx/locksmith/host"
)

// ConfigFactory returns the config of one host on the backend under test.
// Successive calls name the same store.
type ConfigFactory func(t *testing.T) config.Config

// check is one lock guarantee, checked with hosts from newHost.
type check struct {
	name string
	run  func(t *testing.T, s *suite)
}

var checks = []check{
	{"ExclusiveExcludes", checkExclusiveExcludes},
	{"SharedCoexistsAndExcludesWriter", checkShared},
	{"UpdateExcludesUpdateNotReaders", checkUpdateMode},
	{"UpgradeKeepsTokenDowngradeAdmitsReaders", checkConversions},
	{"TwoReadersUpgradingDeadlock", checkUpgradeDeadlock},
	{"SemaphoreLimit", checkSemaphore},
	{"WaiterIsHandedTheLock", checkHandoff},
	{"NoLostUpdateAcrossHosts", checkNoLostUpdate},
}

// Run runs every check as a subtest. Each check starts its own hosts with
// configs from f and closes them when it ends.
func Run(t *testing.T, f ConfigFactory) {
	t.Helper()
	for _, c := range checks {
		t.Run(c.name, func(t *testing.T) {
			c.run(t, &suite{t: t, f: f, prefix: "hosttest-" + suffix()})
		})
	}
}

type suite struct {
	t      *testing.T
	f      ConfigFactory
	prefix string
}

// host starts a host (and so a plugin process); it is closed when the
// check ends.
func (s *suite) host() *host.Host {
	s.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	h, err := host.New(ctx, s.f(s.t))
	if err != nil {
		s.t.Fatalf("start host: %v", err)
	}
	s.t.Cleanup(func() { _ = h.Close() })
	return h
}

func (s *suite) name(n string) string { return s.prefix + "-" + n }

func (s *suite) ctx() context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	s.t.Cleanup(cancel)
	return ctx
}

func (s *suite) lock(h *host.Host, n string, opts ...host.LockOption) *host.Lease {
	s.t.Helper()
	l, err := h.Named(s.ctx(), s.name(n), opts...)
	if err != nil {
		s.t.Fatalf("lock %s: %v", n, err)
	}
	return l
}

// conflicts asserts that a no-wait lock of n with opts is refused with
// host.ErrConflict.
func (s *suite) conflicts(h *host.Host, why, n string, opts ...host.LockOption) {
	s.t.Helper()
	l, err := h.Named(s.ctx(), s.name(n), append(opts, host.NoWait())...)
	if err == nil {
		_ = l.Release(s.ctx())
		s.t.Fatalf("%s: granted, want host.ErrConflict", why)
	}
	if !errors.Is(err, host.ErrConflict) {
		s.t.Fatalf("%s: %v, want host.ErrConflict", why, err)
	}
}

func (s *suite) release(l *host.Lease) {
	s.t.Helper()
	if err := l.Release(s.ctx()); err != nil {
		s.t.Fatalf("release %s: %v", l.Resource(), err)
	}
}

func checkExclusiveExcludes(t *testing.T, s *suite) {
	a, b := s.host(), s.host()
	x := s.lock(a, "x", host.WithMode(host.Exclusive))
	s.conflicts(b, "writer beside a writer", "x", host.WithMode(host.Exclusive))
	s.conflicts(b, "reader beside a writer", "x", host.WithMode(host.Shared))
	tok := x.Token()
	s.release(x)
	y := s.lock(b, "x", host.WithMode(host.Exclusive), host.NoWait())
	if y.Token() <= tok {
		t.Errorf("fencing token %d after %d: tokens must strictly increase per resource", y.Token(), tok)
	}
	s.release(y)
}

func checkShared(t *testing.T, s *suite) {
	a, b, c := s.host(), s.host(), s.host()
	r1 := s.lock(a, "s", host.WithMode(host.Shared))
	r2 := s.lock(b, "s", host.WithMode(host.Shared), host.NoWait())
	s.conflicts(c, "writer beside two readers", "s", host.WithMode(host.Exclusive))
	s.release(r1)
	s.conflicts(c, "writer beside one reader", "s", host.WithMode(host.Exclusive))
	s.release(r2)
	s.release(s.lock(c, "s", host.WithMode(host.Exclusive), host.NoWait()))
}

func checkUpdateMode(t *testing.T, s *suite) {
	a, b, c := s.host(), s.host(), s.host()
	u := s.lock(a, "u", host.WithMode(host.Update))
	s.conflicts(b, "update beside update", "u", host.WithMode(host.Update))
	r := s.lock(c, "u", host.WithMode(host.Shared), host.NoWait())
	s.release(r)
	s.release(u)
}

func checkConversions(t *testing.T, s *suite) {
	a, b := s.host(), s.host()
	r := s.lock(a, "c", host.WithMode(host.Shared))
	tok := r.Token()
	if err := r.Upgrade(s.ctx()); err != nil {
		t.Fatalf("upgrade of the only reader: %v", err)
	}
	if r.Mode() != host.Exclusive || r.Token() != tok {
		t.Fatalf("after upgrade: mode %v token %d, want exclusive and %d", r.Mode(), r.Token(), tok)
	}
	s.conflicts(b, "reader beside an upgraded writer", "c", host.WithMode(host.Shared))
	if err := r.Downgrade(s.ctx()); err != nil {
		t.Fatalf("downgrade: %v", err)
	}
	s.release(s.lock(b, "c", host.WithMode(host.Shared), host.NoWait()))
	s.release(r)
}

func checkUpgradeDeadlock(t *testing.T, s *suite) {
	a, b := s.host(), s.host()
	r1 := s.lock(a, "d", host.WithMode(host.Shared))
	r2 := s.lock(b, "d", host.WithMode(host.Shared))
	type result struct {
		l   *host.Lease
		err error
	}
	done := make(chan result, 2)
	for _, l := range []*host.Lease{r1, r2} {
		go func() { done <- result{l, l.Upgrade(s.ctx())} }()
	}
	// Neither upgrade can be granted while the other reader holds: the
	// first to return must be refused with ErrDeadlock, whichever it is.
	refused := <-done
	if !errors.Is(refused.err, host.ErrDeadlock) {
		t.Fatalf("two readers upgrading: the first answer is %v, want host.ErrDeadlock", refused.err)
	}
	if refused.l.Mode() != host.Shared || refused.l.Lost() != nil {
		t.Fatalf("the refused upgrader must keep its shared lock: mode %v, lost %v", refused.l.Mode(), refused.l.Lost())
	}
	s.release(refused.l)
	won := <-done
	if won.err != nil || won.l.Mode() != host.Exclusive {
		t.Fatalf("the other upgrade, once the refused reader released: %v, mode %v", won.err, won.l.Mode())
	}
	s.release(won.l)
}

func checkSemaphore(t *testing.T, s *suite) {
	a, b, c := s.host(), s.host(), s.host()
	l1 := s.lock(a, "pool", host.WithMode(host.Shared), host.WithLimit(2))
	l2 := s.lock(b, "pool", host.WithMode(host.Shared), host.WithLimit(2), host.NoWait())
	s.conflicts(c, "third holder under limit 2", "pool", host.WithMode(host.Shared), host.WithLimit(2))
	s.release(l1)
	s.release(s.lock(c, "pool", host.WithMode(host.Shared), host.WithLimit(2), host.NoWait()))
	s.release(l2)
}

func checkHandoff(t *testing.T, s *suite) {
	a, b := s.host(), s.host()
	x := s.lock(a, "h", host.WithMode(host.Exclusive))
	got := make(chan *host.Lease, 1)
	failed := make(chan error, 1)
	go func() {
		l, err := b.Named(s.ctx(), s.name("h"), host.WithMode(host.Exclusive))
		if err != nil {
			failed <- err
			return
		}
		got <- l
	}()
	// Wait (bounded) until the waiter is queued behind the holder.
	deadline := time.Now().Add(30 * time.Second)
	for {
		select {
		case l := <-got:
			t.Fatalf("waiter granted %s while another host held it", l.Resource())
		case err := <-failed:
			t.Fatalf("waiter: %v", err)
		default:
		}
		st, err := a.Status(s.ctx(), s.name("h"))
		if err == nil && len(st.Waiters) == 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("waiter never queued: status %+v, %v", st, err)
		}
		time.Sleep(10 * time.Millisecond)
	}
	s.release(x)
	select {
	case l := <-got:
		if l.Token() <= x.Token() {
			t.Errorf("waiter's token %d not above the holder's %d", l.Token(), x.Token())
		}
		s.release(l)
	case err := <-failed:
		t.Fatalf("waiter: %v", err)
	case <-s.ctx().Done():
		t.Fatal("waiter never got the lock after its holder released it: a watch missed the delete")
	}
}

// checkNoLostUpdate runs several hosts incrementing a counter under an
// exclusive lock, read and written non-atomically: a lost increment or a
// token that does not increase means two holders overlapped.
func checkNoLostUpdate(t *testing.T, s *suite) {
	const hosts, rounds = 4, 10
	var (
		mu      sync.Mutex
		counter int
		last    int64
	)
	var wg sync.WaitGroup
	for i := 0; i < hosts; i++ {
		h := s.host()
		wg.Add(1)
		go func() {
			defer wg.Done()
			for r := 0; r < rounds; r++ {
				l, err := h.Named(s.ctx(), s.name("counter"), host.WithMode(host.Exclusive))
				if err != nil {
					t.Errorf("lock counter: %v", err)
					return
				}
				mu.Lock()
				v, tok := counter, last
				mu.Unlock()
				if l.Token() <= tok {
					t.Errorf("token %d granted after %d", l.Token(), tok)
				}
				time.Sleep(time.Millisecond) // widen the window a second holder would hit
				mu.Lock()
				counter, last = v+1, l.Token()
				mu.Unlock()
				if err := l.Release(s.ctx()); err != nil {
					t.Errorf("release counter: %v", err)
					return
				}
			}
		}()
	}
	wg.Wait()
	if counter != hosts*rounds {
		t.Errorf("counter %d after %d increments under the lock: updates were lost", counter, hosts*rounds)
	}
}

func suffix() string {
	var b [4]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}
