// Command auditmw is a middleware plugin for the host's tests: it denies
// resources under "deny/", tags every request's metadata, answers status
// reads of "cached" itself, and appends one line per operation and phase
// to the file named by its config's "log".
package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"strings"
	"sync"

	"github.com/locksmithx/locksmith/sdk"
)

type audit struct {
	mu  sync.Mutex
	log string
}

func (a *audit) Info(context.Context) (sdk.PluginInfo, error) {
	return sdk.PluginInfo{Name: "auditmw", Version: "1", Kind: sdk.KindMiddleware}, nil
}

func (a *audit) Configure(_ context.Context, cfg sdk.Config) error {
	var c struct {
		Log string `json:"log"`
	}
	if err := cfg.Decode(&c); err != nil {
		return err
	}
	a.log = c.Log
	return nil
}

func (a *audit) Health(context.Context) error { return nil }

func (a *audit) Intercept(_ context.Context, in sdk.Interception) (sdk.Verdict, error) {
	a.mu.Lock()
	if f, err := os.OpenFile(a.log, os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o644); err == nil {
		fmt.Fprintf(f, "%s %s %s %s token=%d result=%q code=%s\n", in.Phase, in.Op, in.Resource, in.Principal, in.FencingToken, in.Result, in.ResultCode)
		f.Close()
	}
	a.mu.Unlock()
	if in.Phase != sdk.Before {
		return sdk.Verdict{}, nil
	}
	if strings.HasPrefix(in.Resource, "deny/") {
		return sdk.Verdict{Action: sdk.Deny, Reason: "resources under deny/ are off limits"}, nil
	}
	if in.Op == "status" && in.Resource == "cached" {
		resp, _ := json.Marshal(map[string]any{"resource": "cached", "revision": 42})
		return sdk.Verdict{Action: sdk.Respond, Response: resp}, nil
	}
	md := map[string]string{"audited": "yes"}
	for k, v := range in.Metadata {
		md[k] = v
	}
	return sdk.Verdict{Action: sdk.Continue, Metadata: md, RewriteMetadata: true}, nil
}

func main() { sdk.ServeMiddleware(&audit{}) }
