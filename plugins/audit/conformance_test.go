package audit

import (
	"path/filepath"
	"testing"

	"github.com/locksmithx/locksmith/sdk"
	"github.com/locksmithx/locksmith/sdk/middlewaretest"
)

func TestConformance(t *testing.T) {
	middlewaretest.Run(t, middlewaretest.Subject{
		New: func(*testing.T) sdk.Middleware { return New() },
		Config: func(t *testing.T) sdk.Config {
			return sdk.Config{"path": filepath.Join(t.TempDir(), "audit.log"), "level": "full", "fsync": "never"}
		},
	})
}
