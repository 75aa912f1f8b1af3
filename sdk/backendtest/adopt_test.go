package backendtest

import (
	"context"
	"os"
	"sync/atomic"
	"time"

	"github.com/locksmithx/locksmith/sdk"
)

// adoptingStore makes a working in-process store adopt sessions, as a
// store whose sessions live outside the plugin process does: instances on
// one store share its sessions, and adopting a session is renewing it.
// crash makes an instance fail every call from then on, as a killed
// plugin process would.
type adoptingStore struct {
	sdk.Backend
	dead atomic.Bool
	// later marks an instance that is not the first on its store.
	later bool
}

var errCrashed = sdk.Errorf(sdk.CodeUnavailable, "crashed")

func (a *adoptingStore) Info(ctx context.Context) (sdk.PluginInfo, error) {
	i, err := a.Backend.Info(ctx)
	// Its instances share one store that outlives each of them.
	i.Capabilities = append(i.Capabilities, sdk.CapAdopt, sdk.CapPersistent)
	return i, err
}

func (a *adoptingStore) AdoptSession(ctx context.Context, id string, _ time.Duration, _ *os.File) (sdk.Session, error) {
	if a.dead.Load() {
		return sdk.Session{}, errCrashed
	}
	ttl, err := a.Backend.KeepAlive(ctx, id)
	if err != nil {
		return sdk.Session{}, err
	}
	return sdk.Session{ID: id, TTL: ttl}, nil
}

func (a *adoptingStore) KeepAlive(ctx context.Context, id string) (time.Duration, error) {
	if a.dead.Load() {
		return 0, errCrashed
	}
	return a.Backend.KeepAlive(ctx, id)
}

func (a *adoptingStore) Put(ctx context.Context, req sdk.PutRequest) (sdk.PutResult, error) {
	if a.dead.Load() {
		return sdk.PutResult{}, errCrashed
	}
	return a.Backend.Put(ctx, req)
}

func (a *adoptingStore) Revoke(ctx context.Context, id string) error {
	if a.dead.Load() {
		return errCrashed
	}
	return a.Backend.Revoke(ctx, id)
}

func (a *adoptingStore) Range(ctx context.Context, resource string) (sdk.RangeResult, error) {
	if a.dead.Load() {
		return sdk.RangeResult{}, errCrashed
	}
	return a.Backend.Range(ctx, resource)
}

// AdoptSession is the wrapped store's, or its broken replacement.
func (b *broken) AdoptSession(ctx context.Context, id string, ttl time.Duration, anchor *os.File) (sdk.Session, error) {
	if b.adopt != nil {
		return b.adopt(ctx, id, ttl, anchor)
	}
	return b.Backend.(sdk.SessionAdopter).AdoptSession(ctx, id, ttl, anchor)
}

// Interface guards.
var (
	_ sdk.SessionAdopter = (*adoptingStore)(nil)
	_ sdk.SessionAdopter = (*broken)(nil)
)
