package hooks_test

import (
	"context"
	"fmt"
	"strings"

	"github.com/locksmithx/locksmith/hooks"
	"github.com/locksmithx/locksmith/sdk"
)

// A Go hook that keeps production locks for the deploy bot, and one that
// stamps every request's metadata, in one chain. A host runs such hooks
// with host.WithHook, among its middleware plugins.
func Example() {
	onlyBot := hooks.New("prod-guard", func(_ context.Context, in sdk.Interception) (sdk.Verdict, error) {
		if strings.HasPrefix(in.Resource, "prod/") && in.Principal != "deploy-bot" {
			return sdk.Verdict{Action: sdk.Deny, Reason: in.Principal + " may not lock production"}, nil
		}
		return sdk.Verdict{}, nil
	}, hooks.BeforeAcquire)
	stamp := hooks.New("stamp", func(_ context.Context, in sdk.Interception) (sdk.Verdict, error) {
		md := map[string]string{"via": "hooks"}
		for k, v := range in.Metadata {
			md[k] = v
		}
		return sdk.Verdict{Metadata: md, RewriteMetadata: true}, nil
	}, hooks.BeforeAcquire)
	chain := hooks.NewChain(nil, hooks.Link{Hook: onlyBot}, hooks.Link{Hook: stamp})

	ctx := context.Background()
	_, err := chain.Before(ctx, sdk.Interception{Op: sdk.OpAcquire, Resource: "prod/db", Principal: "alice"})
	fmt.Println(err)
	out, _ := chain.Before(ctx, sdk.Interception{Op: sdk.OpAcquire, Resource: "prod/db", Principal: "deploy-bot",
		Metadata: map[string]string{"job": "release-42"}})
	fmt.Println(out.Metadata)
	// Output:
	// alice may not lock production
	// map[job:release-42 via:hooks]
}
