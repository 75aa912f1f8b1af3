package host

import (
	"context"

	"github.com/locksmithx/locksmith/sdk"
)

// Backend returns the default backend (or the one ctx names, see
// UsingBackend) and its info, starting the plugin
// if it is not running: for tests that look at the store beneath the lock
// rules. It is no public API, because it bypasses the lock rules and the
// middleware chain.
func (h *Host) Backend(ctx context.Context) (sdk.Backend, sdk.PluginInfo, error) {
	g, err := h.generationFor(ctx)
	if err != nil {
		return nil, sdk.PluginInfo{}, err
	}
	return g.backend, g.info, nil
}
