// Package middlewaretest is the conformance suite of the middleware
// contract, as sdk/backendtest is for backends: Run checks a middleware,
// served over the plugin gRPC glue, for what every host relies on.
//
// What it checks: Info describes a middleware whose points are all known;
// an unknown config key is refused with ErrInvalidConfig naming the key;
// the subject's own config is accepted; at each point it declares it
// answers a well-formed operation without error, denies only BEFORE,
// answers (Respond) only a read, and never breaks the shape of a status
// answer it transforms; it is called concurrently without harm.
package middlewaretest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/locksmithx/locksmith/hooks"
	"github.com/locksmithx/locksmith/sdk"
)

// Subject is the middleware under test.
type Subject struct {
	// New returns a fresh, unconfigured middleware.
	New func(t *testing.T) sdk.Middleware
	// Config returns a config the middleware accepts. It may use
	// t.TempDir and t.Setenv.
	Config func(t *testing.T) sdk.Config
}

// Run runs the suite; each check is a subtest.
func Run(t *testing.T, s Subject) {
	for _, c := range []struct {
		name string
		run  func(t *testing.T, s Subject)
	}{
		{"InfoDescribesAMiddleware", checkInfo},
		{"UnknownConfigKeyRefused", checkUnknownKey},
		{"ConfigAccepted", checkConfig},
		{"VerdictsAtDeclaredPoints", checkVerdicts},
		{"StatusAnswerKeepsItsShape", checkStatusShape},
		{"ConcurrentIntercepts", checkConcurrent},
	} {
		t.Run(c.name, func(t *testing.T) { c.run(t, s) })
	}
}

func ctx(t *testing.T) context.Context {
	c, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	t.Cleanup(cancel)
	return c
}

// configured serves a configured subject and returns it with its points.
func configured(t *testing.T, s Subject) (sdk.Middleware, hooks.Set) {
	t.Helper()
	m := sdk.TestMiddlewareConn(t, s.New(t))
	if err := m.Configure(ctx(t), s.Config(t)); err != nil {
		t.Fatalf("configure: %v", err)
	}
	info, err := m.Info(ctx(t))
	if err != nil {
		t.Fatalf("info: %v", err)
	}
	points, err := hooks.ParsePoints(info.Points)
	if err != nil {
		t.Fatalf("points: %v", err)
	}
	return m, points
}

func checkInfo(t *testing.T, s Subject) {
	_, _ = configured(t, s)
	m := sdk.TestMiddlewareConn(t, s.New(t))
	info, err := m.Info(ctx(t))
	if err != nil {
		t.Fatalf("info before configure: %v", err)
	}
	if info.Kind != sdk.KindMiddleware || info.Name == "" || info.Version == "" {
		t.Fatalf("info: %+v; want kind middleware, a name and a version", info)
	}
	if _, err := hooks.ParsePoints(info.Points); err != nil {
		t.Fatalf("points: %v", err)
	}
}

func checkUnknownKey(t *testing.T, s Subject) {
	m := sdk.TestMiddlewareConn(t, s.New(t))
	cfg := sdk.Config{}
	for k, v := range s.Config(t) {
		cfg[k] = v
	}
	cfg["no_such_key_xyz"] = "x"
	err := m.Configure(ctx(t), cfg)
	if !errors.Is(err, sdk.ErrInvalidConfig) || !strings.Contains(err.Error(), "no_such_key_xyz") {
		t.Fatalf("configure with an unknown key: %v; want ErrInvalidConfig naming it", err)
	}
}

func checkConfig(t *testing.T, s Subject) {
	m, _ := configured(t, s)
	if err := m.Health(ctx(t)); err != nil {
		t.Fatalf("health after configure: %v", err)
	}
}

// sample is a well-formed operation at point p.
func sample(p hooks.Point, i int) sdk.Interception {
	in := sdk.Interception{Phase: p.Phase(), Op: p.Op(), Resource: fmt.Sprintf("conformance/r%d", i), Mode: "exclusive",
		Principal: "conformance", PID: 4242, Host: "localhost", Metadata: map[string]string{"purpose": "conformance"}}
	if p.Phase() == sdk.After {
		in.FencingToken, in.Latency = int64(i+1), time.Millisecond
	}
	switch p {
	case hooks.AfterStatus:
		in.Response = statusAnswer(in.Resource)
	case hooks.OnChange:
		in.Revision = int64(i + 2)
	case hooks.OnLost:
		in.Result, in.ResultCode = "locksmith: lock lost: session expired", sdk.CodeLost
	case hooks.AfterRenew:
		in.Resource = ""
	}
	return in
}

func statusAnswer(resource string) []byte {
	raw, _ := json.Marshal(map[string]any{"resource": resource, "revision": 7,
		"holders": []any{map[string]any{"key": "s/1", "mode": "exclusive", "granted": true, "fencing_token": 3, "meta": map[string]string{"purpose": "conformance"}}},
		"waiters": []any{}})
	return raw
}

func checkVerdicts(t *testing.T, s Subject) {
	m, points := configured(t, s)
	for _, p := range hooks.Points {
		if !points.Has(p) {
			continue
		}
		in := sample(p, 0)
		v, err := m.Intercept(ctx(t), in)
		if err != nil {
			t.Errorf("%s: %v", p, err)
			continue
		}
		switch v.Action {
		case sdk.Continue:
		case sdk.Deny:
			if p.Phase() != sdk.Before {
				t.Errorf("%s: denies after the operation, where nothing can be refused", p)
			}
			if v.Reason == "" {
				t.Errorf("%s: denies without a reason", p)
			}
		case sdk.Respond:
			if !sdk.IsRead(p.Op()) {
				t.Errorf("%s: answers an operation that is not a read", p)
			}
		default:
			t.Errorf("%s: unknown action %d", p, v.Action)
		}
		if v.RewriteMetadata && p.Phase() != sdk.Before {
			t.Errorf("%s: rewrites metadata after the operation", p)
		}
	}
}

func checkStatusShape(t *testing.T, s Subject) {
	m, points := configured(t, s)
	if !points.Has(hooks.AfterStatus) {
		t.Skip("not called after status")
	}
	in := sample(hooks.AfterStatus, 1)
	if points.Has(hooks.BeforeAcquire) {
		// A middleware that rewrites metadata may expect its own
		// spelling of it in the answer: give it what it wrote.
		v, err := m.Intercept(ctx(t), sample(hooks.BeforeAcquire, 1))
		if err == nil && v.RewriteMetadata {
			in.Response, _ = sdk.EditStatusMeta(in.Response, func(map[string]string) (map[string]string, error) { return v.Metadata, nil })
		}
	}
	v, err := m.Intercept(ctx(t), in)
	if err != nil {
		t.Fatalf("after status: %v", err)
	}
	if v.Action != sdk.Respond {
		return
	}
	var st struct {
		Resource string `json:"resource"`
		Revision int64  `json:"revision"`
		Holders  []struct {
			Key  string            `json:"key"`
			Meta map[string]string `json:"meta"`
		} `json:"holders"`
	}
	if err := json.Unmarshal(v.Response, &st); err != nil {
		t.Fatalf("transformed answer does not decode: %v\n%s", err, v.Response)
	}
	if st.Resource != in.Resource || st.Revision != 7 || len(st.Holders) != 1 || st.Holders[0].Key != "s/1" {
		t.Fatalf("transformed answer lost its shape: %s", v.Response)
	}
	if st.Holders[0].Meta["purpose"] != "conformance" {
		t.Fatalf("the metadata the host wrote does not come back: %s", v.Response)
	}
}

func checkConcurrent(t *testing.T, s Subject) {
	m, points := configured(t, s)
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for g := 0; g < 8; g++ {
		wg.Add(1)
		go func(g int) {
			defer wg.Done()
			for i := 0; i < 20; i++ {
				for _, p := range hooks.Points {
					if !points.Has(p) {
						continue
					}
					if _, err := m.Intercept(ctx(t), sample(p, g*100+i)); err != nil {
						errs <- fmt.Errorf("%s: %w", p, err)
						return
					}
				}
			}
		}(g)
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}
