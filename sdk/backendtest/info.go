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

// checkResourcesAndCheck: Resources, where the store can enumerate, lists
// only names with the prefix and includes a resource with a live entry;
// Check finds nothing wrong with state the store itself just wrote.
func checkResourcesAndCheck(t tb, e *env) {
	ctx := e.ctx(t, 0)
	s := e.open(t, ctx, e.b, longTTL)
	r := e.resource("r")
	e.put(t, ctx, sdk.PutRequest{Resource: r, Key: "k", Value: []byte("v"), Session: s.ID, IfAbsent: true})

	names, err := e.b.Resources(ctx, e.prefix)
	switch {
	case err != nil:
		t.Logf("Resources: %v; enumeration not checked", err)
	case len(names) == 0:
		t.Logf("Resources listed nothing; enumeration not checked")
	default:
		found := false
		for _, n := range names {
			if !strings.HasPrefix(n, e.prefix) {
				t.Errorf("Resources(%q) listed %q", e.prefix, n)
			}
			found = found || n == r
		}
		if !found {
			t.Errorf("Resources(%q) = %v, missing %q which has a live entry", e.prefix, names, r)
		}
	}

	problems, err := e.b.Check(ctx, r)
	if err != nil {
		t.Logf("Check: %v; not checked", err)
		return
	}
	for _, p := range problems {
		t.Errorf("Check of healthy state reported %s (%s): %s", p.Resource, p.Path, p.Message)
	}
}
