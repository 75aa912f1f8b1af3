package cache

import (
	"testing"

	"github.com/locksmithx/locksmith/sdk"
	"github.com/locksmithx/locksmith/sdk/middlewaretest"
)

func TestConformance(t *testing.T) {
	middlewaretest.Run(t, middlewaretest.Subject{
		New:    func(*testing.T) sdk.Middleware { return New() },
		Config: func(*testing.T) sdk.Config { return sdk.Config{"ttl": "200ms"} },
	})
}
