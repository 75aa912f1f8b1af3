package crypto

import (
	"testing"

	"github.com/locksmithx/locksmith/sdk"
	"github.com/locksmithx/locksmith/sdk/middlewaretest"
)

func TestConformance(t *testing.T) {
	middlewaretest.Run(t, middlewaretest.Subject{
		New: func(*testing.T) sdk.Middleware { return New() },
		Config: func(t *testing.T) sdk.Config {
			t.Setenv("CONFORMANCE_CRYPTO_KEY", testKey)
			return sdk.Config{"key_env": "CONFORMANCE_CRYPTO_KEY"}
		},
	})
}
