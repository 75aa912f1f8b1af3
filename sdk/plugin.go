package sdk

import (
	"context"
	"encoding/json"
	"errors"
	"slices"
	"time"

	"github.com/hashicorp/go-plugin"
	"google.golang.org/grpc"

	"github.com/locksmithx/locksmith/sdk/internal/pb"
)

// backendPlugin is the go-plugin glue for the backend kind: the server side
// wraps a Backend in gRPC services, the client side returns a Backend that
// speaks to them.
type backendPlugin struct {
	plugin.NetRPCUnsupportedPlugin
	impl   Backend
	server *backendServer
	guards *guardSet
}

func (p *backendPlugin) GRPCServer(_ *plugin.GRPCBroker, s *grpc.Server) error {
	if p.impl == nil {
		return errors.New("sdk: no backend to serve")
	}
	if p.server == nil {
		p.server = newBackendServer(p.impl, p.guards)
	}
	pb.RegisterPluginServer(s, &pluginServer{impl: p.impl, guards: p.guards, served: []string{CapBatch}})
	pb.RegisterBackendServer(s, p.server)
	return nil
}

func (p *backendPlugin) GRPCClient(_ context.Context, _ *plugin.GRPCBroker, c *grpc.ClientConn) (any, error) {
	return &backendClient{
		pluginClient: pluginClient{c: pb.NewPluginClient(c)},
		c:            pb.NewBackendClient(c),
		ops:          &opStream{c: pb.NewBackendClient(c)},
	}, nil
}

// middlewarePlugin is the go-plugin glue for the middleware kind.
type middlewarePlugin struct {
	plugin.NetRPCUnsupportedPlugin
	impl   Middleware
	guards *guardSet
}

func (p *middlewarePlugin) GRPCServer(_ *plugin.GRPCBroker, s *grpc.Server) error {
	if p.impl == nil {
		return errors.New("sdk: no middleware to serve")
	}
	pb.RegisterPluginServer(s, &pluginServer{impl: p.impl, guards: p.guards})
	pb.RegisterMiddlewareServer(s, &middlewareServer{impl: p.impl})
	return nil
}

func (p *middlewarePlugin) GRPCClient(_ context.Context, _ *plugin.GRPCBroker, c *grpc.ClientConn) (any, error) {
	return &middlewareClient{
		pluginClient: pluginClient{c: pb.NewPluginClient(c)},
		c:            pb.NewMiddlewareClient(c),
	}, nil
}

// pluginServer serves the base Plugin service for either kind.
type pluginServer struct {
	pb.UnimplementedPluginServer
	impl   Plugin
	guards *guardSet // nil: the plugin guards nothing
	// served are capabilities the sdk itself serves for the plugin, added
	// to those it announces.
	served []string
}

func (s *pluginServer) Info(ctx context.Context, _ *pb.InfoRequest) (*pb.InfoResponse, error) {
	info, err := s.impl.Info(ctx)
	if err != nil {
		return nil, toStatus(err)
	}
	for _, c := range s.served {
		if !info.Has(c) {
			info.Capabilities = append(slices.Clip(info.Capabilities), c)
		}
	}
	return infoToPB(info), nil
}

func (s *pluginServer) Configure(ctx context.Context, req *pb.ConfigureRequest) (*pb.ConfigureResponse, error) {
	cfg := Config{}
	if len(req.ConfigJson) > 0 {
		if err := json.Unmarshal(req.ConfigJson, &cfg); err != nil {
			return nil, toStatus(Errorf(CodeInvalidConfig, "config is not a JSON object: %v", err))
		}
	}
	return &pb.ConfigureResponse{}, toStatus(s.impl.Configure(ctx, cfg))
}

func (s *pluginServer) Health(ctx context.Context, _ *pb.HealthRequest) (*pb.HealthResponse, error) {
	if err := s.impl.Health(ctx); err != nil {
		return &pb.HealthResponse{Ok: false, Message: err.Error()}, nil
	}
	return &pb.HealthResponse{Ok: true}, nil
}

// pluginClient is the host side of the base Plugin service.
type pluginClient struct {
	c pb.PluginClient
}

func (c *pluginClient) Info(ctx context.Context) (PluginInfo, error) {
	r, err := c.c.Info(ctx, &pb.InfoRequest{})
	if err != nil {
		return PluginInfo{}, clientErr(ctx, err)
	}
	return infoFromPB(r), nil
}

func (c *pluginClient) Configure(ctx context.Context, cfg Config) error {
	raw, err := json.Marshal(cfg)
	if err != nil {
		return Errorf(CodeInvalidConfig, "encode config: %v", err)
	}
	_, err = c.c.Configure(ctx, &pb.ConfigureRequest{ConfigJson: raw})
	return clientErr(ctx, err)
}

func (c *pluginClient) Health(ctx context.Context) error {
	r, err := c.c.Health(ctx, &pb.HealthRequest{})
	if err != nil {
		return clientErr(ctx, err)
	}
	if !r.Ok {
		return &Error{Code: CodeUnavailable, Message: r.Message}
	}
	return nil
}

// clientErr turns a gRPC error into the contract's errors; a call whose own
// context ended reports the context's error.
func clientErr(ctx context.Context, err error) error {
	if err == nil {
		return nil
	}
	if cerr := ctxErr(ctx); cerr != nil {
		return cerr
	}
	return fromStatus(err)
}

// ctxErr is ctx.Err(), but also context.DeadlineExceeded once ctx's
// deadline has passed and its timer has not fired yet. The deadline travels
// with every call, so the plugin side may end the call first, and the
// caller must still see its context's error rather than a transport one.
func ctxErr(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if dl, ok := ctx.Deadline(); ok && !time.Now().Before(dl) {
		return context.DeadlineExceeded
	}
	return nil
}

// Interface guards.
var (
	_ plugin.GRPCPlugin = (*backendPlugin)(nil)
	_ plugin.GRPCPlugin = (*middlewarePlugin)(nil)
	_ Backend           = (*backendClient)(nil)
	_ SessionAdopter    = (*backendClient)(nil)
	_ ResourceRanger    = (*backendClient)(nil)
	_ Middleware        = (*middlewareClient)(nil)
)
