package rbac

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/locksmithx/locksmith/sdk"
)

func configured(t *testing.T) *Middleware {
	t.Helper()
	m := New()
	err := m.Configure(context.Background(), sdk.Config{
		"roles":    map[string]any{"ops": []any{"acquire", "release", "inspect"}, "viewer": []any{"inspect"}},
		"bindings": map[string]any{"alice": []any{"ops"}, "*": []any{"viewer"}},
		"rules": []any{
			map[string]any{"role": "ops", "resources": []any{"jobs/*", "deploy/**"}},
			map[string]any{"role": "viewer", "resources": []any{"**"}},
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func TestDecisions(t *testing.T) {
	m := configured(t)
	for _, tc := range []struct {
		who, op, resource string
		deny              string // "" = allowed; else a part of the reason
	}{
		{"alice", sdk.OpAcquire, "jobs/nightly", ""},
		{"alice", sdk.OpRelease, "jobs/nightly", ""},
		{"alice", sdk.OpAcquire, "deploy/web/eu", ""},
		{"alice", sdk.OpAcquire, "jobs/a/b", "no rule lets roles [ops]"},
		{"alice", sdk.OpConvert, "jobs/nightly", "do not grant convert"},
		{"alice", sdk.OpRepair, "jobs/nightly", "do not grant admin"},
		{"bob", sdk.OpStatus, "anything/at/all", ""},
		{"bob", sdk.OpAcquire, "jobs/nightly", `roles [viewer] of "bob" do not grant acquire`},
	} {
		v, err := m.Intercept(context.Background(), sdk.Interception{Phase: sdk.Before, Op: tc.op, Resource: tc.resource, Principal: tc.who})
		if err != nil {
			t.Fatal(err)
		}
		if tc.deny == "" && v.Action != sdk.Continue {
			t.Errorf("%s %s %s: denied (%s), want allowed", tc.who, tc.op, tc.resource, v.Reason)
		}
		if tc.deny != "" && (v.Action != sdk.Deny || !strings.Contains(v.Reason, tc.deny)) {
			t.Errorf("%s %s %s: %+v, want a denial saying %q", tc.who, tc.op, tc.resource, v, tc.deny)
		}
	}
}

func TestDefaultDeny(t *testing.T) {
	v, _ := New().Intercept(context.Background(), sdk.Interception{Phase: sdk.Before, Op: sdk.OpAcquire, Principal: "root"})
	if v.Action != sdk.Deny {
		t.Fatalf("unconfigured: %+v, want a denial", v)
	}
	m := New()
	if err := m.Configure(context.Background(), sdk.Config{}); err != nil {
		t.Fatal(err)
	}
	v, _ = m.Intercept(context.Background(), sdk.Interception{Phase: sdk.Before, Op: sdk.OpAcquire, Principal: "root"})
	if v.Action != sdk.Deny || !strings.Contains(v.Reason, `"root" has no role`) {
		t.Fatalf("empty policy: %+v, want a denial naming the missing binding", v)
	}
}

func TestConfigErrorsNameTheKeyPath(t *testing.T) {
	for _, tc := range []struct {
		cfg  sdk.Config
		want string
	}{
		{sdk.Config{"role": map[string]any{}}, "role"},
		{sdk.Config{"roles": map[string]any{"ops": []any{"aquire"}}}, "roles.ops[0]"},
		{sdk.Config{"bindings": map[string]any{"alice": []any{"ops"}}}, "bindings.alice[0]"},
		{sdk.Config{"roles": map[string]any{"ops": []any{}}, "rules": []any{map[string]any{"role": "ops", "resources": []any{"[a"}}}}, "rules[0].resources[0]"},
		{sdk.Config{"rules": []any{map[string]any{"role": "x", "resources": []any{"a"}}}}, "rules[0].role"},
	} {
		err := New().Configure(context.Background(), tc.cfg)
		if !errors.Is(err, sdk.ErrInvalidConfig) || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("configure %v: %v, want ErrInvalidConfig naming %q", tc.cfg, err, tc.want)
		}
	}
}
