package sdk

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hashicorp/go-plugin"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/locksmithx/locksmith/sdk/internal/pb"
)

// opsStore answers puts, updates and deletes from a map, and counts how
// each call reached it; a put of the key "block" waits for its context.
// It implements nothing else: the tests make no other call.
type opsStore struct {
	Backend
	mu      sync.Mutex
	rev     int64
	entries map[string]int64 // key -> mod revision
	// deadline records whether the last put of "block" had a deadline.
	deadline atomic.Bool
	blocked  chan struct{} // told when a put of "block" starts waiting
	ended    chan error    // told when a put of "block" ends, with why
	// A put of "slow" waits for release, whatever its context says, then
	// lands: a call that takes effect after its caller gave up.
	slow    chan struct{}
	release chan struct{}
	calls   atomic.Int32 // calls that reached the store
}

func newOpsStore() *opsStore {
	return &opsStore{entries: map[string]int64{}, blocked: make(chan struct{}, 4), ended: make(chan error, 4),
		slow: make(chan struct{}, 1), release: make(chan struct{})}
}

func (s *opsStore) Put(ctx context.Context, req PutRequest) (PutResult, error) {
	s.calls.Add(1)
	switch req.Key {
	case "block":
		_, ok := ctx.Deadline()
		s.deadline.Store(ok)
		s.blocked <- struct{}{}
		<-ctx.Done()
		s.ended <- ctx.Err()
		return PutResult{}, Errorf(CodeUnavailable, "put: %v", ctx.Err())
	case "slow":
		s.slow <- struct{}{}
		<-s.release
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.entries[req.Key]; ok && req.IfAbsent {
		return PutResult{}, Errorf(CodeExists, "put %s: key exists", req.Key)
	}
	s.rev++
	s.entries[req.Key] = s.rev
	return PutResult{CreateRev: s.rev, ModRev: s.rev, Rev: s.rev, Entries: []Entry{{Key: req.Key, ModRev: s.rev}}}, nil
}

func (s *opsStore) Update(ctx context.Context, req UpdateRequest) (UpdateResult, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if rev, ok := s.entries[req.Key]; !ok || rev != req.ExpectRev {
		return UpdateResult{}, Errorf(CodeRevMismatch, "update %s: entry is at revision %d, not %d", req.Key, rev, req.ExpectRev)
	}
	s.rev++
	s.entries[req.Key] = s.rev
	return UpdateResult{ModRev: s.rev, Rev: s.rev}, nil
}

func (s *opsStore) Delete(ctx context.Context, req DeleteRequest) (DeleteResult, error) {
	s.calls.Add(1)
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.entries[req.Key]; !ok {
		return DeleteResult{}, Errorf(CodeNotFound, "delete %s: no such key", req.Key)
	}
	delete(s.entries, req.Key)
	s.rev++
	return DeleteResult{Rev: s.rev}, nil
}

// opsPlugin serves a backend over a test connection, with or without the
// Ops stream (without: as a plugin built with an older sdk), and counts
// the streams opened.
type opsPlugin struct {
	plugin.NetRPCUnsupportedPlugin
	impl    Backend
	noOps   bool
	streams atomic.Int32
}

type countingServer struct {
	*backendServer
	p *opsPlugin
}

func (s countingServer) Ops(stream pb.Backend_OpsServer) error {
	s.p.streams.Add(1)
	if s.p.noOps {
		return status.Error(codes.Unimplemented, "method Ops not implemented")
	}
	return s.backendServer.Ops(stream)
}

func (p *opsPlugin) GRPCServer(_ *plugin.GRPCBroker, s *grpc.Server) error {
	pb.RegisterBackendServer(s, countingServer{backendServer: newBackendServer(p.impl, nil), p: p})
	return nil
}

func (p *opsPlugin) GRPCClient(ctx context.Context, b *plugin.GRPCBroker, c *grpc.ClientConn) (any, error) {
	return (&backendPlugin{}).GRPCClient(ctx, b, c)
}

func opsConn(t *testing.T, p *opsPlugin) (*backendClient, func()) {
	t.Helper()
	client, _ := plugin.TestPluginGRPCConn(t, false, map[string]plugin.Plugin{string(KindBackend): p})
	var once sync.Once
	closeConn := func() { once.Do(func() { _ = client.Close() }) }
	t.Cleanup(closeConn)
	raw, err := client.Dispense(string(KindBackend))
	if err != nil {
		t.Fatal(err)
	}
	return raw.(*backendClient), closeConn
}

// exercise makes puts, updates and deletes from many goroutines at once
// and checks each answer is its own call's, errors included.
func exercise(t *testing.T, be Backend) {
	t.Helper()
	ctx := context.Background()
	var wg sync.WaitGroup
	errs := make(chan error, 32)
	for g := 0; g < 32; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 20; i++ {
				key := fmt.Sprintf("k%d-%d", g, i)
				p, err := be.Put(ctx, PutRequest{Resource: "r", Key: key, IfAbsent: true})
				if err != nil {
					errs <- fmt.Errorf("put %s: %w", key, err)
					return
				}
				if len(p.Entries) != 1 || p.Entries[0].Key != key || p.ModRev != p.Entries[0].ModRev {
					errs <- fmt.Errorf("put %s was answered with %+v", key, p)
					return
				}
				if _, err := be.Put(ctx, PutRequest{Resource: "r", Key: key, IfAbsent: true}); !errors.Is(err, ErrExists) {
					errs <- fmt.Errorf("second put of %s: %v, want ErrExists", key, err)
					return
				}
				if _, err := be.Update(ctx, UpdateRequest{Resource: "r", Key: key, ExpectRev: p.ModRev - 1}); !errors.Is(err, ErrRevMismatch) {
					errs <- fmt.Errorf("update of %s at a wrong revision: %v, want ErrRevMismatch", key, err)
					return
				}
				u, err := be.Update(ctx, UpdateRequest{Resource: "r", Key: key, ExpectRev: p.ModRev})
				if err != nil || u.ModRev <= p.ModRev {
					errs <- fmt.Errorf("update of %s: %+v, %v", key, u, err)
					return
				}
				if _, err := be.Delete(ctx, DeleteRequest{Resource: "r", Key: key}); err != nil {
					errs <- fmt.Errorf("delete %s: %w", key, err)
					return
				}
				if _, err := be.Delete(ctx, DeleteRequest{Resource: "r", Key: key}); !errors.Is(err, ErrNotFound) {
					errs <- fmt.Errorf("second delete of %s: %v, want ErrNotFound", key, err)
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}

// TestOpsStreamCarriesCalls: concurrent calls share one stream, and each
// gets its own answer and error.
func TestOpsStreamCarriesCalls(t *testing.T) {
	p := &opsPlugin{impl: newOpsStore()}
	be, _ := opsConn(t, p)
	exercise(t, be)
	if n := p.streams.Load(); n != 1 {
		t.Errorf("%d Ops streams opened for the connection's calls, want 1", n)
	}
}

// TestOpsFallsBackToUnary: a plugin built without the Ops stream answers
// every call through the unary calls, and is asked for the stream once.
func TestOpsFallsBackToUnary(t *testing.T) {
	p := &opsPlugin{impl: newOpsStore(), noOps: true}
	be, _ := opsConn(t, p)
	exercise(t, be)
	if n := p.streams.Load(); n != 1 {
		t.Errorf("the plugin without Ops was asked for the stream %d times, want once", n)
	}
	be.ops.mu.Lock()
	off := be.ops.off
	be.ops.mu.Unlock()
	if !off {
		t.Error("the client did not note that the plugin does not serve Ops")
	}
}

// TestOpsDeadlineAndBreak: a call's deadline reaches the plugin, a call
// past its deadline returns the context's error, and a call in flight when
// the connection breaks returns ErrUnavailable rather than waiting.
func TestOpsDeadlineAndBreak(t *testing.T) {
	store := newOpsStore()
	p := &opsPlugin{impl: store}
	be, closeConn := opsConn(t, p)

	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	_, err := be.Put(ctx, PutRequest{Resource: "r", Key: "block"})
	cancel()
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("put past its deadline: %v, want context.DeadlineExceeded", err)
	}
	<-store.blocked
	if !store.deadline.Load() {
		t.Error("the plugin's call had no deadline")
	}

	done := make(chan error, 1)
	go func() {
		_, err := be.Put(context.Background(), PutRequest{Resource: "r", Key: "block"})
		done <- err
	}()
	<-store.blocked
	closeConn()
	select {
	case err := <-done:
		if !errors.Is(err, ErrUnavailable) {
			t.Fatalf("put in flight when the connection broke: %v, want ErrUnavailable", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("a put in flight when the connection broke never returned")
	}
}

// TestOpsCancel: a call whose context is already done is never sent, and
// giving up on a call in flight cancels it in the plugin, as a unary call's
// cancellation does.
func TestOpsCancel(t *testing.T) {
	store := newOpsStore()
	be, _ := opsConn(t, &opsPlugin{impl: store})
	done, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := be.Put(done, PutRequest{Resource: "r", Key: "k"}); !errors.Is(err, context.Canceled) {
		t.Fatalf("put with a cancelled context: %v, want context.Canceled", err)
	}
	if n := store.calls.Load(); n != 0 {
		t.Fatalf("a put with a cancelled context reached the store (%d calls)", n)
	}

	ctx, cancel := context.WithCancel(context.Background())
	errc := make(chan error, 1)
	go func() {
		_, err := be.Put(ctx, PutRequest{Resource: "r", Key: "block"})
		errc <- err
	}()
	<-store.blocked
	cancel()
	if err := <-errc; !errors.Is(err, context.Canceled) {
		t.Fatalf("put given up: %v, want context.Canceled", err)
	}
	select {
	case err := <-store.ended:
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("the plugin's call ended with %v, want its context cancelled", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the call given up on was never cancelled in the plugin")
	}
}

// TestOpsOrderAfterGivingUp: a put given up on lands later; a delete of the
// same key made after the put returned must be applied after it, or the
// put would leave its entry behind for good. A call on another key is not
// held back meanwhile.
func TestOpsOrderAfterGivingUp(t *testing.T) {
	store := newOpsStore()
	be, _ := opsConn(t, &opsPlugin{impl: store})
	ctx, cancel := context.WithCancel(context.Background())
	errc := make(chan error, 1)
	go func() {
		_, err := be.Put(ctx, PutRequest{Resource: "r", Key: "slow"})
		errc <- err
	}()
	<-store.slow
	cancel()
	if err := <-errc; !errors.Is(err, context.Canceled) {
		t.Fatalf("put given up: %v, want context.Canceled", err)
	}
	deleted := make(chan error, 1)
	go func() {
		_, err := be.Delete(context.Background(), DeleteRequest{Resource: "r", Key: "slow"})
		deleted <- err
	}()
	if _, err := be.Put(context.Background(), PutRequest{Resource: "r", Key: "other"}); err != nil {
		t.Fatalf("a put of another key while one is given up on: %v", err)
	}
	select {
	case err := <-deleted:
		t.Fatalf("the delete was answered (%v) before the put it follows landed", err)
	case <-time.After(100 * time.Millisecond):
	}
	close(store.release)
	if err := <-deleted; err != nil {
		t.Fatalf("delete after the put landed: %v", err)
	}
	store.mu.Lock()
	_, left := store.entries["slow"]
	store.mu.Unlock()
	if left {
		t.Fatal("the put given up on landed after the delete that followed it: its entry is left behind")
	}
}
