package sdk_test

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"testing"
	"time"

	"github.com/locksmithx/locksmith/examples/memory-backend/memstore"
	"github.com/locksmithx/locksmith/sdk"
)

// exampleServeEnv makes this test binary a plugin, for the examples that
// launch it: a plugin's main function is one Serve call.
const exampleServeEnv = "SDK_EXAMPLE_SERVE"

func TestMain(m *testing.M) {
	switch os.Getenv(exampleServeEnv) {
	case "backend":
		sdk.ServeBackend(memstore.New())
	case "middleware":
		sdk.ServeMiddleware(denyAll{})
	}
	os.Exit(m.Run())
}

// denyAll is a middleware that denies every operation.
type denyAll struct{}

func (denyAll) Info(context.Context) (sdk.PluginInfo, error) {
	return sdk.PluginInfo{Name: "deny-all", Version: "1.0.0", Kind: sdk.KindMiddleware}, nil
}
func (denyAll) Configure(context.Context, sdk.Config) error { return nil }
func (denyAll) Health(context.Context) error                { return nil }
func (denyAll) Intercept(_ context.Context, in sdk.Interception) (sdk.Verdict, error) {
	if in.Phase == sdk.After {
		return sdk.Verdict{Action: sdk.Continue}, nil
	}
	return sdk.Verdict{Action: sdk.Deny, Reason: "nobody may " + in.Op + " " + in.Resource}, nil
}

// asPlugin is a command that runs this test binary as a plugin of kind.
func asPlugin(kind string) *exec.Cmd {
	cmd := exec.Command(os.Args[0])
	cmd.Env = append(os.Environ(), exampleServeEnv+"="+kind)
	return cmd
}

// A backend plugin's main function is one call:
//
//	func main() { sdk.ServeBackend(mystore.New()) }
//
// Here the test binary serves the in-memory example store that way
// (TestMain), and the example starts it as a host does and uses it.
func ExampleServeBackend() {
	conn, err := sdk.Launch(asPlugin("backend"), sdk.KindBackend)
	if err != nil {
		fmt.Println(err)
		return
	}
	defer conn.Kill()
	ctx := context.Background()
	b := conn.Backend()
	info, _ := b.Info(ctx)
	fmt.Println(info.Kind, "plugin", info.Name, "over protocol", conn.Protocol())

	s, _ := b.OpenSession(ctx, 10*time.Second, nil)
	p, _ := b.Put(ctx, sdk.PutRequest{Resource: "r", Key: "k", Value: []byte("v"), Session: s.ID, IfAbsent: true, WithRange: true})
	fmt.Println("put at revision", p.CreateRev, "with", len(p.Entries), "entry")
	_, err = b.Put(ctx, sdk.PutRequest{Resource: "r", Key: "k", Session: s.ID, IfAbsent: true})
	fmt.Println("again:", sdk.CodeOf(err))
	// Output:
	// backend plugin memory over protocol 2
	// put at revision 1 with 1 entry
	// again: EXISTS
}

// A middleware plugin's main function is one call too:
//
//	func main() { sdk.ServeMiddleware(myMiddleware{}) }
func ExampleServeMiddleware() {
	conn, err := sdk.Launch(asPlugin("middleware"), sdk.KindMiddleware)
	if err != nil {
		fmt.Println(err)
		return
	}
	defer conn.Kill()
	v, err := conn.Middleware().Intercept(context.Background(), sdk.Interception{Phase: sdk.Before, Op: "lock", Resource: "db"})
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(v.Action == sdk.Deny, v.Reason)
	// Output: true nobody may lock db
}
