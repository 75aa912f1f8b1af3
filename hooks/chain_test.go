package hooks

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/locksmithx/locksmith/sdk"
)

// recorder is a hook that records each call as "name:point" into log.
func recorder(log *[]string, name string, v sdk.Verdict, err error, points ...Point) Hook {
	return New(name, func(_ context.Context, in sdk.Interception) (sdk.Verdict, error) {
		*log = append(*log, name+":"+string(PointOf(in.Phase, in.Op)))
		return v, err
	}, points...)
}

func TestChainOrderAndPoints(t *testing.T) {
	var log []string
	c := NewChain(nil,
		Link{Hook: recorder(&log, "rbac", sdk.Verdict{}, nil, BeforeAcquire)},
		Link{Hook: recorder(&log, "crypto", sdk.Verdict{}, nil, BeforeAcquire, AfterAcquire)},
		Link{Hook: recorder(&log, "audit", sdk.Verdict{}, nil, AfterAcquire, OnLost)},
	)
	ctx := context.Background()
	if _, err := c.Before(ctx, sdk.Interception{Op: sdk.OpAcquire}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.After(ctx, sdk.Interception{Op: sdk.OpAcquire}); err != nil {
		t.Fatal(err)
	}
	c.Notify(ctx, sdk.Interception{Op: sdk.OpLost})
	if _, err := c.Before(ctx, sdk.Interception{Op: sdk.OpRelease}); err != nil {
		t.Fatal(err)
	}
	want := "rbac:before_acquire crypto:before_acquire audit:after_acquire crypto:after_acquire audit:on_lost"
	if got := strings.Join(log, " "); got != want {
		t.Fatalf("calls:\n got %s\nwant %s", got, want)
	}
}

func TestChainDenyStopsAndAfterSeesIt(t *testing.T) {
	var log []string
	c := NewChain(nil,
		Link{Hook: recorder(&log, "rbac", sdk.Verdict{Action: sdk.Deny, Reason: "no rule grants it"}, nil, BeforeAcquire)},
		Link{Hook: recorder(&log, "crypto", sdk.Verdict{}, nil)},
		Link{Hook: recorder(&log, "audit", sdk.Verdict{}, nil, AfterAcquire)},
	)
	ctx := context.Background()
	_, err := c.Before(ctx, sdk.Interception{Op: sdk.OpAcquire})
	var d *Denial
	if !errors.As(err, &d) || !errors.Is(err, ErrDenied) || d.Hook != "rbac" || d.Reason != "no rule grants it" {
		t.Fatalf("deny: %v", err)
	}
	_, _ = c.After(ctx, sdk.Interception{Op: sdk.OpAcquire, Result: err.Error()})
	if got := strings.Join(log, " "); got != "rbac:before_acquire audit:after_acquire crypto:after_acquire" {
		t.Fatalf("calls: %s", got)
	}
}

func TestChainFailureModes(t *testing.T) {
	boom := errors.New("plugin exited")
	ctx := context.Background()
	var log []string
	closed := NewChain(nil, Link{Hook: recorder(&log, "rbac", sdk.Verdict{}, boom)})
	if _, err := closed.Before(ctx, sdk.Interception{Op: sdk.OpAcquire}); !errors.Is(err, ErrDenied) || !errors.Is(err, boom) {
		t.Fatalf("fail-closed failure: %v, want a denial wrapping the failure", err)
	}
	open := NewChain(nil, Link{Hook: recorder(&log, "audit", sdk.Verdict{}, boom), FailOpen: true})
	if _, err := open.Before(ctx, sdk.Interception{Op: sdk.OpAcquire}); err != nil {
		t.Fatalf("fail-open failure: %v", err)
	}
	// A fail-closed failure in AFTER fails a read, never a write.
	if _, err := closed.After(ctx, sdk.Interception{Op: sdk.OpAcquire}); err != nil {
		t.Fatalf("after a write: %v", err)
	}
	if _, err := closed.After(ctx, sdk.Interception{Op: sdk.OpStatus, Response: []byte(`{}`)}); !errors.Is(err, boom) {
		t.Fatalf("after a read: %v", err)
	}
}

func TestChainMetadataAndAnswers(t *testing.T) {
	ctx := context.Background()
	tag := New("tag", func(_ context.Context, in sdk.Interception) (sdk.Verdict, error) {
		if in.Phase == sdk.After {
			return sdk.Verdict{Action: sdk.Respond, Response: []byte(strings.ToUpper(string(in.Response)))}, nil
		}
		md := map[string]string{"n": in.Metadata["n"] + "1"}
		return sdk.Verdict{Metadata: md, RewriteMetadata: true}, nil
	})
	seen := ""
	see := New("see", func(_ context.Context, in sdk.Interception) (sdk.Verdict, error) {
		seen = in.Metadata["n"]
		if in.Op == sdk.OpStatus && in.Phase == sdk.Before {
			return sdk.Verdict{Action: sdk.Respond, Response: []byte(`"cached"`)}, nil
		}
		if in.Op == sdk.OpAcquire && in.Phase == sdk.Before && in.Resource == "bad" {
			return sdk.Verdict{Action: sdk.Respond, Response: []byte(`{}`)}, nil
		}
		return sdk.Verdict{}, nil
	})
	c := NewChain(nil, Link{Hook: tag}, Link{Hook: tag}, Link{Hook: see})
	out, err := c.Before(ctx, sdk.Interception{Op: sdk.OpAcquire, Metadata: map[string]string{"n": "0"}})
	if err != nil || out.Metadata["n"] != "011" || seen != "011" {
		t.Fatalf("metadata through two rewrites: %+v, seen %q, %v", out, seen, err)
	}
	out, err = c.Before(ctx, sdk.Interception{Op: sdk.OpStatus})
	if err != nil || string(out.Answer) != `"cached"` || out.AnsweredBy != "see" {
		t.Fatalf("answered read: %+v, %v", out, err)
	}
	if _, err := c.Before(ctx, sdk.Interception{Op: sdk.OpAcquire, Resource: "bad"}); !errors.Is(err, ErrBadVerdict) {
		t.Fatalf("answered grant: %v, want ErrBadVerdict", err)
	}
	answer, err := c.After(ctx, sdk.Interception{Op: sdk.OpStatus, Response: []byte(`"x"`)})
	if err != nil || string(answer) != `"X"` {
		t.Fatalf("transformed answer: %s, %v", answer, err)
	}
}

func TestParsePoints(t *testing.T) {
	s, err := ParsePoints([]string{"before_acquire", "on_lost"})
	if err != nil || !s.Has(BeforeAcquire) || s.Has(AfterAcquire) || len(s.Names()) != 2 {
		t.Fatalf("parse: %v, %v", s, err)
	}
	if _, err := ParsePoints([]string{"before_lunch"}); !errors.Is(err, ErrUnknownPoint) {
		t.Fatalf("unknown point: %v", err)
	}
	if all, _ := ParsePoints(nil); !all.Has(OnChange) || len(all.Names()) != len(Points) {
		t.Fatal("no points is not every point")
	}
	for _, p := range Points {
		if PointOf(p.Phase(), p.Op()) != p {
			t.Errorf("point %s does not round-trip", p)
		}
	}
}
