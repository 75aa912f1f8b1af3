package sdk

import "context"

type wakeOnKey struct{}

// WithWakeOn returns ctx carrying a hint for Backend.Watch: the caller
// waits for a change of the entries with these keys (a waiter passes the
// entry it queues behind, and its own). A store may then hold back the
// resource's other changes until one of these keys changes, or until its
// own bound on staleness passes, so that many processes queued on one
// resource are not all woken by every change. The watch still delivers
// every change, in revision order; only the moment of delivery moves.
// Stores that ignore the hint are correct too.
func WithWakeOn(ctx context.Context, keys ...string) context.Context {
	if len(keys) == 0 {
		return ctx
	}
	return context.WithValue(ctx, wakeOnKey{}, append([]string(nil), keys...))
}

// WakeOn returns the keys WithWakeOn put in ctx, or nil: what a store's
// Watch reads to honour the hint.
func WakeOn(ctx context.Context) []string {
	keys, _ := ctx.Value(wakeOnKey{}).([]string)
	return keys
}
