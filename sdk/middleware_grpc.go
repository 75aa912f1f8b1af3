package sdk

import (
	"context"
	"time"

	"github.com/locksmithx/locksmith/sdk/internal/pb"
)

// middlewareServer serves a Middleware over gRPC in the plugin process.
type middlewareServer struct {
	pb.UnimplementedMiddlewareServer
	impl Middleware
}

func (s *middlewareServer) Intercept(ctx context.Context, req *pb.InterceptRequest) (*pb.InterceptResponse, error) {
	v, err := s.impl.Intercept(ctx, Interception{
		Phase: Phase(req.Phase), Op: req.Op, Resource: req.Resource, Mode: req.Mode,
		Principal: req.Principal, PID: int(req.Pid), Host: req.Host, Metadata: req.Metadata,
		Result: req.Result, ResultCode: Code(req.ResultCode), FencingToken: req.FencingToken,
		Response: req.Response, Latency: time.Duration(req.LatencyNs), Revision: req.Revision,
	})
	if err != nil {
		return nil, toStatus(err)
	}
	return &pb.InterceptResponse{Action: pb.InterceptResponse_Action(v.Action), Reason: v.Reason,
		Metadata: v.Metadata, RewriteMetadata: v.RewriteMetadata, Response: v.Response}, nil
}

// middlewareClient is the host's view of a middleware plugin.
type middlewareClient struct {
	pluginClient
	c pb.MiddlewareClient
}

func (c *middlewareClient) Intercept(ctx context.Context, in Interception) (Verdict, error) {
	r, err := c.c.Intercept(ctx, &pb.InterceptRequest{
		Phase: pb.InterceptRequest_Phase(in.Phase), Op: in.Op, Resource: in.Resource, Mode: in.Mode,
		Principal: in.Principal, Pid: int64(in.PID), Host: in.Host, Metadata: in.Metadata,
		Result: in.Result, ResultCode: string(in.ResultCode), FencingToken: in.FencingToken,
		Response: in.Response, LatencyNs: int64(in.Latency), Revision: in.Revision,
	})
	if err != nil {
		return Verdict{}, clientErr(ctx, err)
	}
	return Verdict{Action: Action(r.Action), Reason: r.Reason, Metadata: r.Metadata,
		RewriteMetadata: r.RewriteMetadata, Response: r.Response}, nil
}
