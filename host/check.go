package host

import (
	"context"

	"github.com/locksmithx/locksmith/sdk"
)

// Problem is something Check found in a backend's stored state, or that
// Repair fixed (Repaired).
type Problem struct {
	Resource string `json:"resource"`
	// Path locates the damaged state in the store: a file, a key.
	Path     string `json:"path,omitempty"`
	Message  string `json:"message"`
	Repaired bool   `json:"repaired"`
}

// Check inspects the backend's stored state of resource, a normalised key
// ("" for every resource the backend can find), without changing it, and
// returns what is wrong; none means nothing is. It takes no lock. A
// middleware may deny it (ErrDenied).
func (h *Host) Check(ctx context.Context, resource string) ([]Problem, error) {
	return h.inspect(ctx, sdk.OpCheck, resource)
}

// Repair fixes what Check reports for resource ("" for every resource the
// backend can find) and returns what it found, each marked Repaired when
// it was fixed. Repair may drop state it cannot trust: a lock whose state
// was unreadable is free afterwards. A middleware may deny it (ErrDenied).
func (h *Host) Repair(ctx context.Context, resource string) ([]Problem, error) {
	return h.inspect(ctx, sdk.OpRepair, resource)
}

func (h *Host) inspect(ctx context.Context, op, resource string) ([]Problem, error) {
	var out []Problem
	err := h.intercept(ctx, op, resource, Shared, nil, func(map[string]string) (int64, error) {
		g, err := h.generationFor(ctx)
		if err != nil {
			return 0, err
		}
		call := g.backend.Check
		if op == sdk.OpRepair {
			call = g.backend.Repair
		}
		ps, err := call(ctx, resource)
		if err != nil {
			what := op + " " + resource
			if resource == "" {
				what = op + " every resource"
			}
			return 0, backendErr(what, err)
		}
		out = make([]Problem, 0, len(ps))
		for _, p := range ps {
			out = append(out, Problem{Resource: p.Resource, Path: p.Path, Message: p.Message, Repaired: p.Repaired})
		}
		return 0, nil
	})
	return out, err
}
