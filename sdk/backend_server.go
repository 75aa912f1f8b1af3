package sdk

import (
	"context"
	"os"
	"sync"
	"time"

	"github.com/locksmithx/locksmith/sdk/internal/pb"
)

// backendServer serves a Backend over gRPC in the plugin process. It
// remembers the sessions it opened so that a broken keep-alive stream, or
// the end of the plugin process, revokes them.
type backendServer struct {
	pb.UnimplementedBackendServer
	impl   Backend
	guards *guardSet

	mu       sync.Mutex
	sessions map[string]struct{}
	anchors  *anchorChannel // nil when the host passed no anchor channel
}

func newBackendServer(impl Backend, guards *guardSet) *backendServer {
	if guards == nil {
		guards = newGuardSet()
	}
	return &backendServer{impl: impl, guards: guards, sessions: map[string]struct{}{}}
}

// useAnchors gives the server the anchor channel its host passed.
func (s *backendServer) useAnchors(c *anchorChannel) {
	s.mu.Lock()
	s.anchors = c
	s.mu.Unlock()
}

func (s *backendServer) anchorChannel() *anchorChannel {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.anchors
}

// OpenSession opens a session. If the backend gives it an anchor and the
// host passed an anchor channel, a copy of the anchor is on its way to the
// host before the answer is: the host then holds the session across a
// crash of this process.
func (s *backendServer) OpenSession(ctx context.Context, req *pb.OpenSessionRequest) (*pb.OpenSessionResponse, error) {
	sess, err := s.impl.OpenSession(ctx, fromMS(req.TtlMs), req.Meta)
	if err != nil {
		return nil, toStatus(err)
	}
	s.mu.Lock()
	s.sessions[sess.ID] = struct{}{}
	s.mu.Unlock()
	resp := &pb.OpenSessionResponse{Session: sess.ID, TtlMs: ms(sess.TTL)}
	if ch := s.anchorChannel(); ch != nil && sess.Anchor != nil {
		if err := ch.send(sess.ID, sess.Anchor); err != nil {
			s.revoke(sess.ID)
			return nil, toStatus(Errorf(CodeUnavailable, "open session: %v", err))
		}
		resp.Anchored = true
	}
	return resp, nil
}

// AdoptSession hands the backend a session an earlier process of this
// plugin opened, with the anchor the host sent just before.
func (s *backendServer) AdoptSession(ctx context.Context, req *pb.AdoptSessionRequest) (*pb.AdoptSessionResponse, error) {
	var anchor *os.File
	if req.Anchored {
		a, err := s.anchorChannel().receive(ctx, req.Session)
		if err != nil {
			return nil, toStatus(Errorf(CodeUnavailable, "adopt session %s: %v", req.Session, err))
		}
		anchor = a
		defer anchor.Close()
	}
	ad, ok := s.impl.(SessionAdopter)
	if !ok {
		return nil, toStatus(Errorf(CodeInvalidArgument, "adopt session %s: this backend cannot adopt sessions", req.Session))
	}
	sess, err := ad.AdoptSession(ctx, req.Session, fromMS(req.TtlMs), anchor)
	if err != nil {
		return nil, toStatus(err)
	}
	s.mu.Lock()
	s.sessions[sess.ID] = struct{}{}
	s.mu.Unlock()
	return &pb.AdoptSessionResponse{Session: sess.ID, TtlMs: ms(sess.TTL)}, nil
}

// KeepAlive renews the sessions named on the stream. However the stream
// ends, every session it renewed is revoked: the host only ends the stream
// when it is done with the session or gone. If the host is gone, the
// process groups it guards are killed first.
func (s *backendServer) KeepAlive(stream pb.Backend_KeepAliveServer) error {
	renewed := map[string]struct{}{}
	defer func() {
		if len(renewed) > 0 && s.guards.active() && s.guards.hostGone(hostGoneWait) {
			s.guards.killAll(GuardWait)
		}
		for id := range renewed {
			s.revoke(id)
		}
	}()
	for {
		req, err := stream.Recv()
		if err != nil {
			return nil
		}
		renewed[req.Session] = struct{}{}
		ttl, err := s.impl.KeepAlive(stream.Context(), req.Session)
		resp := &pb.KeepAliveResponse{Session: req.Session, TtlMs: ms(ttl)}
		if err != nil {
			if CodeOf(err) == CodeSessionExpired || stream.Context().Err() != nil {
				return toStatus(err)
			}
			resp.ErrorCode, resp.ErrorMessage = string(CodeOf(err)), err.Error()
		}
		if err := stream.Send(resp); err != nil {
			return nil
		}
	}
}

func (s *backendServer) Revoke(ctx context.Context, req *pb.RevokeRequest) (*pb.RevokeResponse, error) {
	err := s.impl.Revoke(ctx, req.Session)
	if err == nil {
		s.forget(req.Session)
	}
	return &pb.RevokeResponse{}, toStatus(err)
}

func (s *backendServer) forget(id string) {
	s.mu.Lock()
	delete(s.sessions, id)
	s.mu.Unlock()
}

// revoke ends a session on the server's own account, with a bounded wait.
func (s *backendServer) revoke(id string) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if s.impl.Revoke(ctx, id) == nil {
		s.forget(id)
	}
}

// revokeAll revokes every session still open; it runs when the plugin
// process stops.
func (s *backendServer) revokeAll() {
	s.mu.Lock()
	ids := make([]string, 0, len(s.sessions))
	for id := range s.sessions {
		ids = append(ids, id)
	}
	s.mu.Unlock()
	for _, id := range ids {
		s.revoke(id)
	}
}

func (s *backendServer) Put(ctx context.Context, req *pb.PutRequest) (*pb.PutResponse, error) {
	r, err := s.impl.Put(ctx, PutRequest{Resource: req.Resource, Key: req.Key, Value: req.Value,
		Session: req.Session, IfAbsent: req.IfAbsent, WithRange: req.WithRange})
	if err != nil {
		return nil, toStatus(err)
	}
	return &pb.PutResponse{CreateRev: r.CreateRev, ModRev: r.ModRev, Rev: r.Rev, Entries: entriesToPB(r.Entries)}, nil
}

func (s *backendServer) Update(ctx context.Context, req *pb.UpdateRequest) (*pb.UpdateResponse, error) {
	r, err := s.impl.Update(ctx, UpdateRequest{Resource: req.Resource, Key: req.Key, Value: req.Value, ExpectRev: req.ExpectRev, ExpectResourceRev: req.ExpectResourceRev})
	if err != nil {
		return nil, toStatus(err)
	}
	return &pb.UpdateResponse{ModRev: r.ModRev, Rev: r.Rev}, nil
}

func (s *backendServer) Delete(ctx context.Context, req *pb.DeleteRequest) (*pb.DeleteResponse, error) {
	r, err := s.impl.Delete(ctx, DeleteRequest{Resource: req.Resource, Key: req.Key, ExpectRev: req.ExpectRev, WithRange: req.WithRange})
	if err != nil {
		return nil, toStatus(err)
	}
	return &pb.DeleteResponse{Rev: r.Rev, Entries: entriesToPB(r.Entries)}, nil
}

// Batch applies the ops with the backend's own Batch, or one call each.
func (s *backendServer) Batch(ctx context.Context, req *pb.BatchRequest) (*pb.BatchResponse, error) {
	ops := make([]BatchOp, len(req.Ops))
	for i, op := range req.Ops {
		if p := op.GetPut(); p != nil {
			ops[i].Put = &PutRequest{Resource: p.Resource, Key: p.Key, Value: p.Value,
				Session: p.Session, IfAbsent: p.IfAbsent, WithRange: p.WithRange}
		} else if d := op.GetDelete(); d != nil {
			ops[i].Delete = &DeleteRequest{Resource: d.Resource, Key: d.Key, ExpectRev: d.ExpectRev, WithRange: d.WithRange}
		}
	}
	if err := checkBatch(ops); err != nil {
		return nil, toStatus(err)
	}
	rs, err := Batch(ctx, s.impl, ops)
	if err == nil {
		err = batchResultCount(ops, len(rs))
	}
	if err != nil {
		return nil, toStatus(err)
	}
	resp := &pb.BatchResponse{Results: make([]*pb.BatchResult, len(rs))}
	for i, r := range rs {
		out := &pb.BatchResult{}
		switch {
		case r.Err != nil:
			out.ErrorCode, out.ErrorMessage = string(CodeOf(r.Err)), r.Err.Error()
		case ops[i].Put != nil:
			out.Put = &pb.PutResponse{CreateRev: r.Put.CreateRev, ModRev: r.Put.ModRev, Rev: r.Put.Rev, Entries: entriesToPB(r.Put.Entries)}
		default:
			out.Delete = &pb.DeleteResponse{Rev: r.Delete.Rev, Entries: entriesToPB(r.Delete.Entries)}
		}
		resp.Results[i] = out
	}
	return resp, nil
}

func (s *backendServer) Range(ctx context.Context, req *pb.RangeRequest) (*pb.RangeResponse, error) {
	r, err := s.impl.Range(ctx, req.Resource)
	if err != nil {
		return nil, toStatus(err)
	}
	return &pb.RangeResponse{Rev: r.Rev, Entries: entriesToPB(r.Entries)}, nil
}

func (s *backendServer) Watch(req *pb.WatchRequest, stream pb.Backend_WatchServer) error {
	ctx := WithWakeOn(stream.Context(), req.WakeOn...)
	err := s.impl.Watch(ctx, req.Resource, req.FromRev, func(ev Event) error {
		return stream.Send(&pb.WatchResponse{Type: pb.WatchResponse_Type(ev.Type), Entry: entryToPB(ev.Entry), Rev: ev.Rev})
	})
	if stream.Context().Err() != nil {
		return nil
	}
	return toStatus(err)
}

func (s *backendServer) Resources(ctx context.Context, req *pb.ResourcesRequest) (*pb.ResourcesResponse, error) {
	rs, err := s.impl.Resources(ctx, req.Prefix)
	if err != nil {
		return nil, toStatus(err)
	}
	return &pb.ResourcesResponse{Resources: rs}, nil
}

func (s *backendServer) Check(ctx context.Context, req *pb.CheckRequest) (*pb.CheckResponse, error) {
	ps, err := s.impl.Check(ctx, req.Resource)
	if err != nil {
		return nil, toStatus(err)
	}
	return &pb.CheckResponse{Problems: problemsToPB(ps)}, nil
}

func (s *backendServer) Repair(ctx context.Context, req *pb.RepairRequest) (*pb.RepairResponse, error) {
	ps, err := s.impl.Repair(ctx, req.Resource)
	if err != nil {
		return nil, toStatus(err)
	}
	return &pb.RepairResponse{Problems: problemsToPB(ps)}, nil
}

// rangeBatch is how many resources one RangeResources message carries.
const rangeBatch = 256

func (s *backendServer) RangeResources(req *pb.RangeResourcesRequest, stream pb.Backend_RangeResourcesServer) error {
	rs, err := RangeResources(stream.Context(), s.impl, req.Prefix)
	if err != nil {
		return toStatus(err)
	}
	for len(rs) > 0 {
		n := min(len(rs), rangeBatch)
		msg := &pb.RangeResourcesResponse{Ranges: make([]*pb.ResourceRange, 0, n)}
		for _, r := range rs[:n] {
			msg.Ranges = append(msg.Ranges, &pb.ResourceRange{Resource: r.Resource, Rev: r.Rev, Entries: entriesToPB(r.Entries)})
		}
		if err := stream.Send(msg); err != nil {
			return err
		}
		rs = rs[n:]
	}
	return nil
}
