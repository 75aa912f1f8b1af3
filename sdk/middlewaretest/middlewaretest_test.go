package middlewaretest

import (
	"context"
	"os"
	"os/exec"
	"strings"
	"testing"

	"github.com/locksmithx/locksmith/hooks"
	"github.com/locksmithx/locksmith/sdk"
)

// good is a minimal middleware that keeps the contract: it tags metadata
// before acquire.
type good struct{ broken bool }

func (g *good) Info(context.Context) (sdk.PluginInfo, error) {
	points := hooks.SetOf(hooks.BeforeAcquire, hooks.AfterRelease, hooks.AfterStatus)
	if g.broken {
		return sdk.PluginInfo{Name: "broken", Version: "0", Kind: sdk.KindMiddleware, Points: append(points.Names(), "before_lunch")}, nil
	}
	return sdk.PluginInfo{Name: "good", Version: "1", Kind: sdk.KindMiddleware, Points: points.Names()}, nil
}

func (g *good) Configure(_ context.Context, cfg sdk.Config) error {
	if g.broken {
		return nil // accepts unknown keys
	}
	var c struct {
		Tag string `json:"tag"`
	}
	return cfg.Decode(&c)
}

func (g *good) Health(context.Context) error { return nil }

func (g *good) Intercept(_ context.Context, in sdk.Interception) (sdk.Verdict, error) {
	if g.broken {
		switch {
		case in.Phase == sdk.After && in.Op == sdk.OpRelease:
			return sdk.Verdict{Action: sdk.Deny}, nil
		case in.Op == sdk.OpAcquire:
			return sdk.Verdict{Action: sdk.Respond, Response: []byte(`{}`)}, nil
		case in.Op == sdk.OpStatus:
			return sdk.Verdict{Action: sdk.Respond, Response: []byte(`{"holders":"none"}`)}, nil
		}
	}
	if in.Op == sdk.OpAcquire {
		return sdk.Verdict{Metadata: map[string]string{"tag": "x"}, RewriteMetadata: true}, nil
	}
	return sdk.Verdict{}, nil
}

func TestSuitePassesAGoodMiddleware(t *testing.T) {
	Run(t, Subject{
		New:    func(*testing.T) sdk.Middleware { return &good{} },
		Config: func(*testing.T) sdk.Config { return sdk.Config{"tag": "x"} },
	})
}

// TestSuiteFailsABrokenMiddleware runs the suite on a middleware that
// breaks the contract, in a child test process, and checks that each
// breach is reported.
func TestSuiteFailsABrokenMiddleware(t *testing.T) {
	if os.Getenv("MIDDLEWARETEST_BROKEN") == "1" {
		Run(t, Subject{
			New:    func(*testing.T) sdk.Middleware { return &good{broken: true} },
			Config: func(*testing.T) sdk.Config { return sdk.Config{} },
		})
		return
	}
	cmd := exec.Command(os.Args[0], "-test.run", "^TestSuiteFailsABrokenMiddleware$", "-test.v")
	cmd.Env = append(os.Environ(), "MIDDLEWARETEST_BROKEN=1")
	out, err := cmd.CombinedOutput()
	if err == nil {
		t.Fatalf("the suite passed a broken middleware:\n%s", out)
	}
	for _, want := range []string{
		"--- FAIL: TestSuiteFailsABrokenMiddleware/InfoDescribesAMiddleware",
		"--- FAIL: TestSuiteFailsABrokenMiddleware/UnknownConfigKeyRefused",
	} {
		if !strings.Contains(string(out), want) {
			t.Errorf("the suite did not report %q:\n%s", want, out)
		}
	}
}

// TestSuiteFailsBadVerdicts: verdicts that break the contract at declared
// points are each reported.
func TestSuiteFailsBadVerdicts(t *testing.T) {
	if os.Getenv("MIDDLEWARETEST_VERDICTS") == "1" {
		Run(t, Subject{
			New:    func(*testing.T) sdk.Middleware { return &badVerdicts{} },
			Config: func(*testing.T) sdk.Config { return sdk.Config{} },
		})
		return
	}
	cmd := exec.Command(os.Args[0], "-test.run", "^TestSuiteFailsBadVerdicts$", "-test.v")
	cmd.Env = append(os.Environ(), "MIDDLEWARETEST_VERDICTS=1")
	out, err := cmd.CombinedOutput()
	if err == nil {
		t.Fatalf("the suite passed bad verdicts:\n%s", out)
	}
	for _, want := range []string{
		"after_release: denies after the operation",
		"before_acquire: answers an operation that is not a read",
		"transformed answer does not decode",
	} {
		if !strings.Contains(string(out), want) {
			t.Errorf("the suite did not report %q:\n%s", want, out)
		}
	}
}

// badVerdicts keeps the config contract but breaks the verdict rules.
type badVerdicts struct{ good }

func (b *badVerdicts) Intercept(ctx context.Context, in sdk.Interception) (sdk.Verdict, error) {
	broken := good{broken: true}
	return broken.Intercept(ctx, in)
}
