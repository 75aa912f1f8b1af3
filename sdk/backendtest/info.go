package backendtest

import (
	"strings"

	"github.com/locksmithx/locksmith/sdk"
)

// checkInfoAndHealth: Info names the backend, its version and its kind;
// a working backend is healthy.
func checkInfoAndHealth(t tb, e *env) {
	ctx := e.ctx(t, 0)
	info, err := e.b.Info(ctx)
	if err != nil {
		t.Fatalf("Info: %v", err)
	}
	if info.Name == "" {
		t.Errorf("Info: empty Name")
	}
	if info.Version == "" {
		t.Errorf("Info: empty Version")
	}
	if info.Kind != sdk.KindBackend {
		t.Errorf("Info: Kind %q, want %q", info.Kind, sdk.KindBackend)
	}
	if err := e.b.Health(ctx); err != nil {
		t.Errorf("Health: %v, want nil", err)
	}
}

// checkResourcesAndCheck: Resources lists exactly the names with the
// prefix that hold live entries: a resource with a live entry is listed, a
// name outside the prefix is not, even one that extends a listed name's
// stem. Check of healthy state answers without error and finds nothing.
func checkResourcesAndCheck(t tb, e *env) {
	ctx := e.ctx(t, 0)
	s := e.open(t, ctx, e.b, longTTL)
	r, sibling := e.resource("r/x"), e.resource("s/x")
	e.put(t, ctx, sdk.PutRequest{Resource: r, Key: "k", Value: []byte("v"), Session: s.ID, IfAbsent: true})
	e.put(t, ctx, sdk.PutRequest{Resource: sibling, Key: "k", Value: []byte("v"), Session: s.ID, IfAbsent: true})

	for _, prefix := range []string{e.prefix, e.resource("r/")} {
		names, err := e.b.Resources(ctx, prefix)
		if err != nil {
			t.Errorf("Resources(%q): %v; the host lists and checks resources with it: it must answer", prefix, err)
			continue
		}
		found := false
		for _, n := range names {
			if !strings.HasPrefix(n, prefix) {
				t.Errorf("Resources(%q) listed %q: it must honour its prefix", prefix, n)
			}
			found = found || n == r
		}
		if !found {
			t.Errorf("Resources(%q) = %v, missing %q which has a live entry", prefix, names, r)
		}
	}

	problems, err := e.b.Check(ctx, r)
	if err != nil {
		t.Errorf("Check %s: %v; Check of healthy state must answer, with no problem", r, err)
		return
	}
	for _, p := range problems {
		t.Errorf("Check of healthy state reported %s (%s): %s", p.Resource, p.Path, p.Message)
	}
}
