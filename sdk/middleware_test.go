package sdk

import (
	"context"
	"errors"
	"testing"

	"github.com/hashicorp/go-plugin"
)

// denyWrites is a middleware that refuses exclusive locks in BEFORE and
// tags every request's metadata.
type denyWrites struct{}

func (denyWrites) Info(context.Context) (PluginInfo, error) {
	return PluginInfo{Name: "deny-writes", Version: "1", Kind: KindMiddleware}, nil
}
func (denyWrites) Configure(_ context.Context, cfg Config) error {
	var c struct {
		Tag string `json:"tag"`
	}
	return cfg.Decode(&c)
}
func (denyWrites) Health(context.Context) error { return nil }
func (denyWrites) Intercept(_ context.Context, in Interception) (Verdict, error) {
	if in.Phase == Before && in.Mode == "exclusive" {
		return Verdict{Action: Deny, Reason: "writes are frozen"}, nil
	}
	if in.Op == "fail" {
		return Verdict{}, Errorf(CodeInvalidArgument, "bad op")
	}
	md := map[string]string{"seen": in.Phase.String() + ":" + in.Principal}
	return Verdict{Action: Continue, Metadata: md, RewriteMetadata: true}, nil
}

func TestMiddlewareOverGRPC(t *testing.T) {
	client, _ := plugin.TestPluginGRPCConn(t, false, map[string]plugin.Plugin{
		string(KindMiddleware): &middlewarePlugin{impl: denyWrites{}},
	})
	defer client.Close()
	raw, err := client.Dispense(string(KindMiddleware))
	if err != nil {
		t.Fatal(err)
	}
	m := raw.(Middleware)
	ctx := context.Background()
	info, err := m.Info(ctx)
	if err != nil || info.Kind != KindMiddleware || info.Name != "deny-writes" {
		t.Fatalf("info: %+v, %v", info, err)
	}
	if err := m.Configure(ctx, Config{"tagg": "x"}); !errors.Is(err, ErrInvalidConfig) {
		t.Fatalf("unknown config key: %v, want ErrInvalidConfig", err)
	}
	v, err := m.Intercept(ctx, Interception{Phase: Before, Op: "acquire", Resource: "r", Mode: "exclusive"})
	if err != nil || v.Action != Deny || v.Reason != "writes are frozen" {
		t.Fatalf("deny: %+v, %v", v, err)
	}
	v, err = m.Intercept(ctx, Interception{Phase: After, Op: "acquire", Mode: "shared", Principal: "alice", FencingToken: 7})
	if err != nil || v.Action != Continue || !v.RewriteMetadata || v.Metadata["seen"] != "after:alice" {
		t.Fatalf("continue: %+v, %v", v, err)
	}
	if _, err := m.Intercept(ctx, Interception{Op: "fail"}); !errors.Is(err, ErrInvalidArgument) {
		t.Fatalf("error code lost across gRPC: %v", err)
	}
}
