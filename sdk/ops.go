package sdk

import (
	"context"
	"errors"
	"sync"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/locksmithx/locksmith/sdk/internal/pb"
)

// A backend connection's puts, updates and deletes travel on one Ops
// stream rather than as one unary call each: a unary gRPC call opens an
// HTTP/2 stream, sends headers and trailers, and starts a handler, where a
// message on an open stream is one frame each way. The host's hottest
// calls (acquire, release, conversion) are these three. Each call is still
// its own request with its own answer, matched by id; the plugin runs the
// calls of one stream concurrently, as it runs unary calls.
//
// A caller that gives up on a call sends a cancel for it, as a unary call
// is cancelled, and the call may still take effect. The host relies on one
// order there: a request withdrawn after its put was given up must not be
// overtaken by that put. So a call on a key whose earlier call was given up
// is sent only once that earlier call has been answered.

// Ops serves the plugin's side of the Ops stream: each request runs in a
// goroutine of its own and is answered when it ends; a cancel message ends
// the context of the call it names. When the stream ends, the calls still
// running are cancelled and finish before it is closed.
func (s *backendServer) Ops(stream pb.Backend_OpsServer) error {
	ctx := stream.Context()
	var (
		sendMu  sync.Mutex
		wg      sync.WaitGroup
		mu      sync.Mutex
		running = map[uint64]context.CancelFunc{}
	)
	defer wg.Wait()
	for {
		req, err := stream.Recv()
		if err != nil {
			return nil
		}
		if req.Cancel {
			mu.Lock()
			if cancel, ok := running[req.Id]; ok {
				cancel()
			}
			mu.Unlock()
			continue
		}
		cctx, cancel := context.WithCancel(ctx)
		mu.Lock()
		running[req.Id] = cancel
		mu.Unlock()
		wg.Add(1)
		go func() {
			defer wg.Done()
			resp := s.op(cctx, req)
			mu.Lock()
			delete(running, req.Id)
			mu.Unlock()
			cancel()
			sendMu.Lock()
			defer sendMu.Unlock()
			_ = stream.Send(resp)
		}()
	}
}

// op runs one call of the Ops stream through the unary call's own handler.
func (s *backendServer) op(ctx context.Context, req *pb.OpRequest) *pb.OpResponse {
	if req.TimeoutMs > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, fromMS(req.TimeoutMs))
		defer cancel()
	}
	resp := &pb.OpResponse{Id: req.Id}
	var err error
	switch op := req.Op.(type) {
	case *pb.OpRequest_Put:
		var r *pb.PutResponse
		if r, err = s.Put(ctx, op.Put); err == nil {
			resp.Result = &pb.OpResponse_Put{Put: r}
		}
	case *pb.OpRequest_Update:
		var r *pb.UpdateResponse
		if r, err = s.Update(ctx, op.Update); err == nil {
			resp.Result = &pb.OpResponse_Update{Update: r}
		}
	case *pb.OpRequest_Delete:
		var r *pb.DeleteResponse
		if r, err = s.Delete(ctx, op.Delete); err == nil {
			resp.Result = &pb.OpResponse_Delete{Delete: r}
		}
	default:
		err = toStatus(Errorf(CodeInvalidArgument, "ops stream: request %d names no call this plugin knows", req.Id))
	}
	if err != nil {
		var e *Error
		if errors.As(fromStatus(err), &e) {
			resp.ErrorCode, resp.ErrorMessage = string(e.Code), e.Message
		}
	}
	return resp
}

// opStream is the host's side of a connection's Ops stream. It opens the
// stream on first use and again after a break; if the plugin does not
// serve Ops, every call from then on is a unary call. The stream ends with
// the connection.
type opStream struct {
	c pb.BackendClient

	mu  sync.Mutex
	cur *opConn // nil until opened, and after a break
	off bool    // the plugin does not serve Ops
}

// opConn is one open Ops stream and the calls waiting for its answers.
type opConn struct {
	stream pb.Backend_OpsClient
	cancel context.CancelFunc
	sendMu sync.Mutex

	mu      sync.Mutex
	next    uint64
	pending map[uint64]*opCall
	// given holds, by resource and key, the last call given up on before
	// its answer came: closed when the answer comes or the stream breaks.
	given  map[string]chan struct{}
	broken bool
}

// opCall is a call waiting for its answer.
type opCall struct {
	ch    chan opResult
	key   string
	given chan struct{} // non-nil once the caller gave up on it
}

// opResult is what a call on the stream gets: the plugin's answer, or the
// stream's break (err), or word that the plugin does not serve Ops and the
// call was never made (unary).
type opResult struct {
	resp  *pb.OpResponse
	err   error
	unary bool
}

// opKey is what orders calls after a call given up on: its resource and key.
func opKey(req *pb.OpRequest) string {
	switch op := req.Op.(type) {
	case *pb.OpRequest_Put:
		return op.Put.Resource + "\x00" + op.Put.Key
	case *pb.OpRequest_Update:
		return op.Update.Resource + "\x00" + op.Update.Key
	case *pb.OpRequest_Delete:
		return op.Delete.Resource + "\x00" + op.Delete.Key
	}
	return ""
}

// call sends req on the stream and waits for its answer. It reports
// unary when the call must be made as a unary call instead: the plugin
// does not serve Ops, or no stream could be opened. The call then never
// reached the plugin.
func (o *opStream) call(ctx context.Context, req *pb.OpRequest) (resp *pb.OpResponse, err error, unary bool) {
	if err := ctxErr(ctx); err != nil {
		return nil, err, false // as a unary call: never sent
	}
	oc := o.conn()
	if oc == nil {
		return nil, nil, true
	}
	key := opKey(req)
	oc.mu.Lock()
	prior := oc.given[key]
	oc.mu.Unlock()
	if prior != nil {
		select {
		case <-prior:
		case <-ctx.Done():
			return nil, ctx.Err(), false // never sent
		}
	}
	c := &opCall{ch: make(chan opResult, 1), key: key}
	oc.mu.Lock()
	if oc.broken {
		oc.mu.Unlock()
		return nil, nil, true
	}
	oc.next++
	id := oc.next
	oc.pending[id] = c
	oc.mu.Unlock()

	req.Id = id
	if dl, ok := ctx.Deadline(); ok {
		req.TimeoutMs = max(1, ms(time.Until(dl)))
	}
	if !oc.send(req) {
		// The stream is broken; its reader reports why to every call
		// waiting on it, this one included.
		oc.cancel()
	}
	select {
	case r := <-c.ch:
		return r.outcome(ctx)
	case <-ctx.Done():
	}
	// The caller gives up. The plugin is told, as a unary call's
	// cancellation tells it, but the call may still take effect: until
	// its answer comes, later calls on its key wait, so that none is
	// applied before it.
	oc.mu.Lock()
	select {
	case r := <-c.ch:
		oc.mu.Unlock()
		return r.outcome(ctx)
	default:
	}
	c.given = make(chan struct{})
	oc.given[key] = c.given
	oc.mu.Unlock()
	oc.send(&pb.OpRequest{Id: id, Cancel: true})
	return nil, ctx.Err(), false
}

// outcome is the call's result as its caller sees it.
func (r opResult) outcome(ctx context.Context) (*pb.OpResponse, error, bool) {
	if r.unary {
		return nil, nil, true
	}
	if r.err != nil {
		return nil, clientErr(ctx, r.err), false
	}
	if r.resp.ErrorCode != "" {
		if cerr := ctxErr(ctx); cerr != nil {
			return nil, cerr, false
		}
		return nil, &Error{Code: Code(r.resp.ErrorCode), Message: r.resp.ErrorMessage}, false
	}
	return r.resp, nil, false
}

// send sends one message; false means the stream is broken.
func (oc *opConn) send(req *pb.OpRequest) bool {
	oc.sendMu.Lock()
	defer oc.sendMu.Unlock()
	return oc.stream.Send(req) == nil
}

// conn returns the open stream, opening one if there is none; nil means
// the call must be a unary one.
func (o *opStream) conn() *opConn {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.off {
		return nil
	}
	if o.cur != nil {
		return o.cur
	}
	ctx, cancel := context.WithCancel(context.Background())
	st, err := o.c.Ops(ctx)
	if err != nil {
		cancel()
		return nil
	}
	oc := &opConn{stream: st, cancel: cancel, pending: map[uint64]*opCall{}, given: map[string]chan struct{}{}}
	o.cur = oc
	go o.read(oc)
	return oc
}

// read delivers the stream's answers to their calls until the stream
// breaks; then it fails the calls still waiting, or, if the plugin does
// not serve Ops, sends them to the unary calls.
func (o *opStream) read(oc *opConn) {
	for {
		resp, err := oc.stream.Recv()
		if err != nil {
			oc.cancel()
			unimplemented := status.Code(err) == codes.Unimplemented
			o.mu.Lock()
			if o.cur == oc {
				o.cur = nil
			}
			if unimplemented {
				o.off = true
			}
			o.mu.Unlock()
			oc.mu.Lock()
			oc.broken = true
			pending := oc.pending
			oc.pending = nil
			for _, c := range pending {
				if c.given != nil {
					close(c.given)
				} else {
					c.ch <- opResult{err: err, unary: unimplemented}
				}
			}
			oc.mu.Unlock()
			return
		}
		oc.mu.Lock()
		if c, ok := oc.pending[resp.Id]; ok {
			delete(oc.pending, resp.Id)
			if c.given != nil {
				close(c.given)
				if oc.given[c.key] == c.given {
					delete(oc.given, c.key)
				}
			} else {
				c.ch <- opResult{resp: resp}
			}
		}
		oc.mu.Unlock()
	}
}
