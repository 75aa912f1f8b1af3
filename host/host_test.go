package host

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

func TestExclusiveAcrossHosts(t *testing.T) {
	dir := t.TempDir()
	hosts := []*Host{newTestHost(t, dir), newTestHost(t, dir), newTestHost(t, dir)}
	ctx := testCtx(t)
	var (
		mu      sync.Mutex
		inside  int
		counter int
		tokens  []int64
		wg      sync.WaitGroup
		errs    = make(chan error, 64)
	)
	for i := 0; i < 6; i++ {
		wg.Add(1)
		go func(h *Host) {
			defer wg.Done()
			for j := 0; j < 10; j++ {
				l, err := h.Named(ctx, "counter")
				if err != nil {
					errs <- err
					return
				}
				mu.Lock()
				inside++
				if inside != 1 {
					errs <- errors.New("two holders of an exclusive lock")
				}
				tokens = append(tokens, l.Token())
				mu.Unlock()
				c := counter
				time.Sleep(100 * time.Microsecond)
				counter = c + 1
				mu.Lock()
				inside--
				mu.Unlock()
				if err := l.Release(ctx); err != nil {
					errs <- err
					return
				}
			}
		}(hosts[i%len(hosts)])
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	if counter != 60 {
		t.Fatalf("counter %d, want 60", counter)
	}
	for i := 1; i < len(tokens); i++ {
		if tokens[i] <= tokens[i-1] {
			t.Fatalf("tokens not increasing in grant order: %v", tokens)
		}
	}
}

func TestSharedHoldersOverlap(t *testing.T) {
	dir := t.TempDir()
	a, b := newTestHost(t, dir), newTestHost(t, dir)
	ctx := testCtx(t)
	l1, err := a.Named(ctx, "r", WithMode(Shared))
	if err != nil {
		t.Fatal(err)
	}
	l2, err := b.Named(ctx, "r", WithMode(Shared), NoWait())
	if err != nil {
		t.Fatalf("second shared holder refused: %v", err)
	}
	if _, err := b.Named(ctx, "r", NoWait()); !errors.Is(err, ErrConflict) {
		t.Fatalf("exclusive beside shared holders: got %v, want ErrConflict", err)
	}
	for _, l := range []*Lease{l1, l2} {
		if err := l.Release(ctx); err != nil {
			t.Fatal(err)
		}
	}
	l3, err := b.Named(ctx, "r", NoWait())
	if err != nil {
		t.Fatalf("exclusive after release: %v", err)
	}
	if l3.Token() <= l2.Token() {
		t.Fatalf("token %d not above %d", l3.Token(), l2.Token())
	}
}

func TestWaitingWriterBlocksNewReaders(t *testing.T) {
	dir := t.TempDir()
	a, b, c := newTestHost(t, dir), newTestHost(t, dir), newTestHost(t, dir)
	ctx := testCtx(t)
	r1, err := a.Named(ctx, "q", WithMode(Shared))
	if err != nil {
		t.Fatal(err)
	}
	writer := make(chan *Lease, 1)
	go func() {
		l, err := b.Named(ctx, "q", WithMode(Exclusive))
		if err != nil {
			t.Error(err)
		}
		writer <- l
	}()
	waitFor(t, func() bool {
		st, _ := a.Status(ctx, "q")
		return len(st.Waiters) == 1
	})
	if _, err := c.Named(ctx, "q", WithMode(Shared), NoWait()); !errors.Is(err, ErrConflict) {
		t.Fatalf("reader behind a waiting writer: got %v, want ErrConflict", err)
	}
	if err := r1.Release(ctx); err != nil {
		t.Fatal(err)
	}
	w := <-writer
	if w == nil {
		t.FailNow()
	}
	if w.Token() <= r1.Token() {
		t.Fatalf("writer token %d not above reader's %d", w.Token(), r1.Token())
	}
}

func TestTimeoutLeavesNothingQueued(t *testing.T) {
	dir := t.TempDir()
	a, b := newTestHost(t, dir), newTestHost(t, dir)
	ctx := testCtx(t)
	held, err := a.Named(ctx, "t")
	if err != nil {
		t.Fatal(err)
	}
	wctx, cancel := context.WithTimeout(ctx, 200*time.Millisecond)
	defer cancel()
	_, err = b.Named(wctx, "t")
	if !errors.Is(err, ErrTimeout) {
		t.Fatalf("got %v, want ErrTimeout", err)
	}
	st, err := a.Status(ctx, "t")
	if err != nil {
		t.Fatal(err)
	}
	if len(st.Holders) != 1 || len(st.Waiters) != 0 {
		t.Fatalf("after a timed-out wait: %d holders, %d waiters; want 1, 0", len(st.Holders), len(st.Waiters))
	}
	if st.Holders[0].Token != held.Token() {
		t.Fatalf("holder token %d, want %d", st.Holders[0].Token, held.Token())
	}
	cctx, ccancel := context.WithCancel(ctx)
	ccancel()
	if _, err := b.Named(cctx, "t"); !errors.Is(err, context.Canceled) || errors.Is(err, ErrTimeout) {
		t.Fatalf("cancelled wait: got %v, want context.Canceled (not ErrTimeout)", err)
	}
}

func TestReleaseTwiceIsNotHeld(t *testing.T) {
	h := newTestHost(t, t.TempDir())
	ctx := testCtx(t)
	l, err := h.Named(ctx, "twice")
	if err != nil {
		t.Fatal(err)
	}
	if len(h.Held()) != 1 {
		t.Fatalf("Held: %d leases, want 1", len(h.Held()))
	}
	if err := l.Release(ctx); err != nil {
		t.Fatal(err)
	}
	if err := l.Release(ctx); !errors.Is(err, ErrNotHeld) {
		t.Fatalf("second release: %v, want ErrNotHeld", err)
	}
	if l.Lost() != nil {
		t.Fatalf("released lease reports lost: %v", l.Lost())
	}
	if len(h.Held()) != 0 {
		t.Fatalf("Held after release: %d", len(h.Held()))
	}
}

func TestChecksumMismatchRefused(t *testing.T) {
	cfg := testConfig(t.TempDir())
	p := cfg.Plugins["file"]
	p.SHA256 = strings.Repeat("ab", 32)
	cfg.Plugins["file"] = p
	_, err := New(testCtx(t), cfg)
	if !errors.Is(err, ErrPluginChecksum) {
		t.Fatalf("got %v, want ErrPluginChecksum", err)
	}
	sum, _ := fileSHA256(filePlugin)
	for _, want := range []string{`"file"`, p.SHA256, sum} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not name %s", err, want)
		}
	}
	p.SHA256 = sum
	cfg.Plugins["file"] = p
	h, err := New(testCtx(t), cfg)
	if err != nil {
		t.Fatalf("matching checksum refused: %v", err)
	}
	_ = h.Close()
}

func TestFileLockStateBesideFile(t *testing.T) {
	dir := t.TempDir()
	h := newTestHost(t, dir)
	ctx := testCtx(t)
	target := filepath.Join(dir, "data.txt")
	if err := os.WriteFile(target, []byte("payload"), 0o644); err != nil {
		t.Fatal(err)
	}
	l, err := h.Lock(ctx, filepath.Join(dir, ".", "data.txt"))
	if err != nil {
		t.Fatal(err)
	}
	if l.Resource() != target {
		t.Fatalf("resource %q, want %q", l.Resource(), target)
	}
	if raw, _ := os.ReadFile(target); string(raw) != "payload" {
		t.Fatalf("locked file changed: %q", raw)
	}
	if _, err := h.TryLock(ctx, target); !errors.Is(err, ErrConflict) {
		t.Fatalf("second lock of the same file: %v", err)
	}
	_ = l.Release(ctx)
}

func TestStatusShowsHoldersAndWaiters(t *testing.T) {
	dir := t.TempDir()
	a, b := newTestHost(t, dir), newTestHost(t, dir)
	ctx := testCtx(t)
	l, err := a.Named(ctx, "s", WithMeta("job", "backup"))
	if err != nil {
		t.Fatal(err)
	}
	wctx, cancel := context.WithCancel(ctx)
	defer cancel()
	go func() { _, _ = b.Named(wctx, "s", WithMode(Shared)) }()
	waitFor(t, func() bool {
		st, _ := a.Status(ctx, "s")
		return len(st.Waiters) == 1
	})
	st, err := a.Status(ctx, "s")
	if err != nil {
		t.Fatal(err)
	}
	hd, w := st.Holders[0], st.Waiters[0]
	if hd.Mode != "exclusive" || hd.Token != l.Token() || hd.PID != os.Getpid() || hd.Meta["job"] != "backup" || hd.Session != l.Session() {
		t.Fatalf("holder: %+v", hd)
	}
	if w.Mode != "shared" || w.Granted || w.Position != 1 {
		t.Fatalf("waiter: %+v", w)
	}
	cancel()
	_ = l.Release(ctx)
}

// waitFor polls cond for up to 5 s.
func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not met within 5s")
		}
		time.Sleep(5 * time.Millisecond)
	}
}
