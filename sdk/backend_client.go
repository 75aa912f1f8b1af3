package sdk

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"sync"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/locksmithx/locksmith/sdk/internal/pb"
)

// backendClient is the host's view of a backend plugin: a Backend whose
// every call is one gRPC call to the plugin process.
type backendClient struct {
	pluginClient
	c pb.BackendClient
	// ops carries puts, updates and deletes (see opStream); nil for a
	// connection made without it, whose calls are unary.
	ops *opStream
	// anchors is the anchor channel to the plugin process; nil when the
	// connection has none (a test connection).
	anchors *anchorChannel

	mu      sync.Mutex
	streams map[string]*keepAliveStream
}

// keepAliveStream is the open KeepAlive stream of one session. Renewals of
// a session go over one stream, one at a time; its end revokes the session
// in the plugin.
type keepAliveStream struct {
	mu     sync.Mutex
	stream pb.Backend_KeepAliveClient
	cancel context.CancelFunc
}

func (c *backendClient) OpenSession(ctx context.Context, ttl time.Duration, meta map[string]string) (Session, error) {
	r, err := c.c.OpenSession(ctx, &pb.OpenSessionRequest{TtlMs: ms(ttl), Meta: meta})
	if err != nil {
		return Session{}, clientErr(ctx, err)
	}
	sess := Session{ID: r.Session, TTL: fromMS(r.TtlMs)}
	if r.Anchored {
		a, err := c.anchors.receive(ctx, r.Session)
		if err != nil {
			// A session the host cannot anchor would not survive a plugin
			// crash as it should: give it up.
			rctx, cancel := context.WithTimeout(context.Background(), anchorWait)
			_ = c.Revoke(rctx, r.Session)
			cancel()
			if cerr := ctxErr(ctx); cerr != nil {
				return Session{}, cerr
			}
			return Session{}, Errorf(CodeUnavailable, "open session: %v", err)
		}
		sess.Anchor = a
	}
	return sess, nil
}

// AdoptSession hands session id to this plugin process: it sends a copy
// of anchor (which the caller keeps) over the anchor channel, then asks the
// plugin to adopt the session.
func (c *backendClient) AdoptSession(ctx context.Context, id string, ttl time.Duration, anchor *os.File) (Session, error) {
	req := &pb.AdoptSessionRequest{Session: id, TtlMs: ms(ttl)}
	if anchor != nil {
		if err := c.anchors.send(id, anchor); err != nil {
			return Session{}, Errorf(CodeUnavailable, "adopt session: %v", err)
		}
		req.Anchored = true
	}
	r, err := c.c.AdoptSession(ctx, req)
	if err != nil {
		return Session{}, clientErr(ctx, err)
	}
	return Session{ID: r.Session, TTL: fromMS(r.TtlMs)}, nil
}

// KeepAlive renews the session over its keep-alive stream, opening the
// stream on first use. A broken stream is not reopened: its break has
// revoked the session, so every later call reports ErrSessionExpired.
func (c *backendClient) KeepAlive(ctx context.Context, session string) (time.Duration, error) {
	ks, err := c.stream(session)
	if err != nil {
		return 0, err
	}
	ks.mu.Lock()
	defer ks.mu.Unlock()
	if ks.stream == nil {
		return 0, Errorf(CodeSessionExpired, "session %s: keep-alive stream ended", session)
	}
	type result struct {
		ttl time.Duration
		err error
	}
	done := make(chan result, 1)
	go func() {
		if err := ks.stream.Send(&pb.KeepAliveRequest{Session: session}); err != nil {
			_, rerr := ks.stream.Recv()
			done <- result{err: streamErr(session, rerr)}
			return
		}
		r, err := ks.stream.Recv()
		if err != nil {
			done <- result{err: streamErr(session, err)}
			return
		}
		if r.ErrorCode != "" {
			done <- result{err: passing{&Error{Code: Code(r.ErrorCode), Message: r.ErrorMessage}}}
			return
		}
		done <- result{ttl: fromMS(r.TtlMs)}
	}()
	select {
	case r := <-done:
		var p passing
		if errors.As(r.err, &p) {
			// The store answered with a passing error: the stream, and
			// the session, live on.
			return 0, p.err
		}
		if r.err != nil {
			ks.cancel()
			ks.stream = nil
		}
		return r.ttl, r.err
	case <-ctx.Done():
		// The renewal is abandoned, and so is the stream: a reply could
		// still arrive and be taken for a later request's.
		ks.cancel()
		<-done
		ks.stream = nil
		return 0, ctx.Err()
	}
}

// passing marks a renewal error the plugin answered on an open stream.
type passing struct{ err error }

func (p passing) Error() string { return p.err.Error() }

// streamErr is the error of a keep-alive stream that ended. A stream that
// broke (the plugin process went away) is ErrSessionExpired, for the plugin
// revokes a session whose stream ends, and also ErrUnavailable, so that a
// host whose backend adopts sessions can tell it from an expiry the plugin
// reported: the plugin may have died, its session living on.
func streamErr(session string, err error) error {
	e := fromStatus(err)
	if CodeOf(e) == CodeUnavailable || CodeOf(e) == CodeUnknown {
		return fmt.Errorf("%w: %w", Errorf(CodeSessionExpired, "session %s: keep-alive stream broke", session),
			Errorf(CodeUnavailable, "%v", e))
	}
	return e
}

func (c *backendClient) stream(session string) (*keepAliveStream, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if ks, ok := c.streams[session]; ok {
		return ks, nil
	}
	ctx, cancel := context.WithCancel(context.Background())
	s, err := c.c.KeepAlive(ctx)
	if err != nil {
		cancel()
		return nil, fromStatus(err)
	}
	if c.streams == nil {
		c.streams = map[string]*keepAliveStream{}
	}
	ks := &keepAliveStream{stream: s, cancel: cancel}
	c.streams[session] = ks
	return ks, nil
}

func (c *backendClient) Revoke(ctx context.Context, session string) error {
	_, err := c.c.Revoke(ctx, &pb.RevokeRequest{Session: session})
	c.mu.Lock()
	ks := c.streams[session]
	delete(c.streams, session)
	c.mu.Unlock()
	if ks != nil {
		ks.cancel()
	}
	return clientErr(ctx, err)
}

func (c *backendClient) Put(ctx context.Context, req PutRequest) (PutResult, error) {
	in := &pb.PutRequest{Resource: req.Resource, Key: req.Key, Value: req.Value,
		Session: req.Session, IfAbsent: req.IfAbsent, WithRange: req.WithRange}
	r, err := streamed(c, ctx, &pb.OpRequest{Op: &pb.OpRequest_Put{Put: in}}, (*pb.OpResponse).GetPut, c.c.Put, in)
	if err != nil {
		return PutResult{}, err
	}
	return PutResult{CreateRev: r.CreateRev, ModRev: r.ModRev, Rev: r.Rev, Entries: entriesFromPB(r.Entries)}, nil
}

func (c *backendClient) Update(ctx context.Context, req UpdateRequest) (UpdateResult, error) {
	in := &pb.UpdateRequest{Resource: req.Resource, Key: req.Key, Value: req.Value, ExpectRev: req.ExpectRev, ExpectResourceRev: req.ExpectResourceRev}
	r, err := streamed(c, ctx, &pb.OpRequest{Op: &pb.OpRequest_Update{Update: in}}, (*pb.OpResponse).GetUpdate, c.c.Update, in)
	if err != nil {
		return UpdateResult{}, err
	}
	return UpdateResult{ModRev: r.ModRev, Rev: r.Rev}, nil
}

func (c *backendClient) Delete(ctx context.Context, req DeleteRequest) (DeleteResult, error) {
	in := &pb.DeleteRequest{Resource: req.Resource, Key: req.Key, ExpectRev: req.ExpectRev, WithRange: req.WithRange}
	r, err := streamed(c, ctx, &pb.OpRequest{Op: &pb.OpRequest_Delete{Delete: in}}, (*pb.OpResponse).GetDelete, c.c.Delete, in)
	if err != nil {
		return DeleteResult{}, err
	}
	return DeleteResult{Rev: r.Rev, Entries: entriesFromPB(r.Entries)}, nil
}

// streamed makes a call on the connection's Ops stream, or as the unary
// call when there is none or the plugin does not serve it. Its errors are
// the unary call's.
func streamed[In, Out any](c *backendClient, ctx context.Context, op *pb.OpRequest, result func(*pb.OpResponse) *Out,
	call func(context.Context, *In, ...grpc.CallOption) (*Out, error), in *In) (*Out, error) {
	if c.ops != nil {
		resp, err, unary := c.ops.call(ctx, op)
		if !unary {
			if err != nil {
				return nil, err
			}
			if out := result(resp); out != nil {
				return out, nil
			}
			return nil, Errorf(CodeUnknown, "the plugin's answer on the ops stream carries no result")
		}
	}
	out, err := call(ctx, in)
	if err != nil {
		return nil, clientErr(ctx, err)
	}
	return out, nil
}

func (c *backendClient) Range(ctx context.Context, resource string) (RangeResult, error) {
	r, err := c.c.Range(ctx, &pb.RangeRequest{Resource: resource})
	if err != nil {
		return RangeResult{}, clientErr(ctx, err)
	}
	return RangeResult{Rev: r.Rev, Entries: entriesFromPB(r.Entries)}, nil
}

func (c *backendClient) Watch(ctx context.Context, resource string, fromRev int64, send func(Event) error) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	s, err := c.c.Watch(ctx, &pb.WatchRequest{Resource: resource, FromRev: fromRev, WakeOn: WakeOn(ctx)})
	if err != nil {
		return clientErr(ctx, err)
	}
	for {
		r, err := s.Recv()
		if err != nil {
			if cerr := ctxErr(ctx); cerr != nil {
				return cerr
			}
			return fromStatus(err)
		}
		if err := send(Event{Type: EventType(r.Type), Entry: entryFromPB(r.Entry), Rev: r.Rev}); err != nil {
			return err
		}
	}
}

func (c *backendClient) Resources(ctx context.Context, prefix string) ([]string, error) {
	r, err := c.c.Resources(ctx, &pb.ResourcesRequest{Prefix: prefix})
	if err != nil {
		return nil, clientErr(ctx, err)
	}
	return r.Resources, nil
}

func (c *backendClient) Check(ctx context.Context, resource string) ([]Problem, error) {
	r, err := c.c.Check(ctx, &pb.CheckRequest{Resource: resource})
	if err != nil {
		return nil, clientErr(ctx, err)
	}
	return problemsFromPB(r.Problems), nil
}

func (c *backendClient) Repair(ctx context.Context, resource string) ([]Problem, error) {
	r, err := c.c.Repair(ctx, &pb.RepairRequest{Resource: resource})
	if err != nil {
		return nil, clientErr(ctx, err)
	}
	return problemsFromPB(r.Problems), nil
}

// RangeResources reads every resource's range in one streamed call; a
// plugin built with an sdk older than the call is read resource by
// resource.
func (c *backendClient) RangeResources(ctx context.Context, prefix string) ([]ResourceRange, error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	s, err := c.c.RangeResources(ctx, &pb.RangeResourcesRequest{Prefix: prefix})
	if err != nil {
		return nil, clientErr(ctx, err)
	}
	var out []ResourceRange
	for {
		r, err := s.Recv()
		if errors.Is(err, io.EOF) {
			return out, nil
		}
		if err != nil {
			if status.Code(err) == codes.Unimplemented {
				return rangeEach(ctx, c, prefix)
			}
			return nil, clientErr(ctx, err)
		}
		for _, rr := range r.Ranges {
			out = append(out, ResourceRange{Resource: rr.Resource, RangeResult: RangeResult{Rev: rr.Rev, Entries: entriesFromPB(rr.Entries)}})
		}
	}
}

// Batch sends the ops in one call. A plugin built with an sdk older than
// the call gets them one call each (see ApplyEach).
func (c *backendClient) Batch(ctx context.Context, ops []BatchOp) ([]BatchResult, error) {
	if err := checkBatch(ops); err != nil {
		return nil, err
	}
	req := &pb.BatchRequest{Ops: make([]*pb.BatchOp, len(ops))}
	for i, op := range ops {
		if p := op.Put; p != nil {
			req.Ops[i] = &pb.BatchOp{Op: &pb.BatchOp_Put{Put: &pb.PutRequest{Resource: p.Resource, Key: p.Key, Value: p.Value,
				Session: p.Session, IfAbsent: p.IfAbsent, WithRange: p.WithRange}}}
		} else {
			d := op.Delete
			req.Ops[i] = &pb.BatchOp{Op: &pb.BatchOp_Delete{Delete: &pb.DeleteRequest{Resource: d.Resource, Key: d.Key,
				ExpectRev: d.ExpectRev, WithRange: d.WithRange}}}
		}
	}
	r, err := c.c.Batch(ctx, req)
	if err != nil {
		if status.Code(err) == codes.Unimplemented {
			return ApplyEach(ctx, c, ops), nil
		}
		return nil, clientErr(ctx, err)
	}
	if err := batchResultCount(ops, len(r.Results)); err != nil {
		return nil, err
	}
	out := make([]BatchResult, len(ops))
	for i, res := range r.Results {
		switch {
		case res.ErrorCode != "":
			out[i].Err = &Error{Code: Code(res.ErrorCode), Message: res.ErrorMessage}
		case ops[i].Put != nil:
			p := res.GetPut()
			out[i].Put = PutResult{CreateRev: p.GetCreateRev(), ModRev: p.GetModRev(), Rev: p.GetRev(), Entries: entriesFromPB(p.GetEntries())}
		default:
			d := res.GetDelete()
			out[i].Delete = DeleteResult{Rev: d.GetRev(), Entries: entriesFromPB(d.GetEntries())}
		}
	}
	return out, nil
}
