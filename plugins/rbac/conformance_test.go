package rbac

import (
	"testing"

	"github.com/locksmithx/locksmith/sdk"
	"github.com/locksmithx/locksmith/sdk/middlewaretest"
)

func TestConformance(t *testing.T) {
	middlewaretest.Run(t, middlewaretest.Subject{
		New: func(*testing.T) sdk.Middleware { return New() },
		Config: func(*testing.T) sdk.Config {
			return sdk.Config{
				"roles":    map[string]any{"ops": []any{"acquire", "release"}},
				"bindings": map[string]any{"conformance": []any{"ops"}},
				"rules":    []any{map[string]any{"role": "ops", "resources": []any{"conformance/r1*"}}},
			}
		},
	})
}
