package host

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/locksmithx/locksmith/config"
	"github.com/locksmithx/locksmith/examples/memory-backend/memstore"
	"github.com/locksmithx/locksmith/sdk"
)

// hostOn returns a host bound to an in-process backend announcing info,
// as if its plugin had started: enough to test what the host does with a
// backend's capabilities.
func hostOn(t *testing.T, be sdk.Backend, info sdk.PluginInfo, b Backoff) *Host {
	t.Helper()
	g := &generation{backend: be, info: info, started: time.Now(), exited: make(chan struct{})}
	h := &Host{
		log:     hclog.NewNullLogger(),
		prefix:  randomID(),
		slots:   map[*backendSlot]struct{}{},
		leases:  map[*Lease]struct{}{},
		backoff: b,
		graph:   newWaitGraph(),
	}
	slot := &backendSlot{name: config.DefaultBackend, ttl: config.DefaultTTL, sup: &supervisor{cur: g, log: hclog.NewNullLogger()}}
	h.slots[slot] = struct{}{}
	h.pipe.Store(&pipeline{cfg: config.Default(), slots: map[string]*backendSlot{config.DefaultBackend: slot}})
	t.Cleanup(func() {
		h.mu.Lock()
		s := h.defaultSlot().liveSession()
		h.mu.Unlock()
		if s != nil {
			_ = s.close(context.Background())
		}
	})
	return h
}

// countingBackoff records how often the host polled.
type countingBackoff struct{ calls int }

func (c *countingBackoff) Delay(int) time.Duration { c.calls++; return 2 * time.Millisecond }

func TestWaitPollsBackendsThatCannotWatch(t *testing.T) {
	store := memstore.New()
	if err := store.Configure(context.Background(), sdk.Config{}); err != nil {
		t.Fatal(err)
	}
	b := &countingBackoff{}
	noWatch := sdk.PluginInfo{Name: "memory", Kind: sdk.KindBackend} // no CapWatch
	h := hostOn(t, store, noWatch, b)
	ctx := testCtx(t)
	held, err := h.Named(ctx, "polled")
	if err != nil {
		t.Fatal(err)
	}
	got := make(chan error, 1)
	go func() {
		l, err := h.Named(ctx, "polled")
		if err == nil {
			err = l.Release(ctx)
		}
		got <- err
	}()
	time.Sleep(30 * time.Millisecond)
	if err := held.Release(ctx); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-got:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(2 * time.Second):
		t.Fatal("a waiter on a backend without watch was never granted")
	}
	if b.calls < 2 {
		t.Fatalf("the backoff was consulted %d times; the waiter did not poll", b.calls)
	}
	wctx, cancel := context.WithTimeout(ctx, 50*time.Millisecond)
	defer cancel()
	again, _ := h.Named(ctx, "polled")
	if _, err := h.Named(wctx, "polled"); !errors.Is(err, ErrTimeout) {
		t.Fatalf("polling wait past its deadline: %v, want ErrTimeout", err)
	}
	_ = again.Release(ctx)
}

func TestBackoffStrategies(t *testing.T) {
	e := Exponential{Min: time.Millisecond, Max: 8 * time.Millisecond}
	for i, want := range []time.Duration{1, 2, 4, 8, 8, 8} {
		if got := e.Delay(i); got != want*time.Millisecond {
			t.Errorf("exponential attempt %d: %s, want %s", i, got, want*time.Millisecond)
		}
	}
	l := Linear{Step: 3 * time.Millisecond, Max: 10 * time.Millisecond}
	for i, want := range []time.Duration{3, 6, 9, 10} {
		if got := l.Delay(i); got != want*time.Millisecond {
			t.Errorf("linear attempt %d: %s, want %s", i, got, want*time.Millisecond)
		}
	}
	j := Jitter{Exponential{Min: 8 * time.Millisecond, Max: 8 * time.Millisecond}}
	seen := map[time.Duration]bool{}
	for i := 0; i < 200; i++ {
		d := j.Delay(0)
		if d < 4*time.Millisecond || d >= 8*time.Millisecond {
			t.Fatalf("jitter %s outside [4ms, 8ms)", d)
		}
		seen[d] = true
	}
	if len(seen) < 10 {
		t.Fatalf("jitter gave only %d distinct delays", len(seen))
	}
}
