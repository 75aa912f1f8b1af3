package sdk

import (
	"context"
	"fmt"
)

// ResourceRange is one resource's live entries and revision, as
// RangeResources returns them.
type ResourceRange struct {
	Resource string
	RangeResult
}

// ResourceRanger is implemented by a backend that reads the queues of many
// resources at once better than Resources and a Range per resource do (a
// pipelined or batched read of its store). Each resource's range is atomic
// on its own, as Range's is; nothing is promised across resources.
type ResourceRanger interface {
	// RangeResources returns the range of every resource whose name starts
	// with prefix, where the store can enumerate them (see Resources).
	RangeResources(ctx context.Context, prefix string) ([]ResourceRange, error)
}

// RangeResources reads the range of every resource of b whose name starts
// with prefix: with b's own RangeResources when it has one (a plugin
// connection does: one call to the plugin), else with Resources and a
// Range per resource. A resource that ends between the listing and its
// read comes back with no entries.
func RangeResources(ctx context.Context, b Backend, prefix string) ([]ResourceRange, error) {
	if rr, ok := b.(ResourceRanger); ok {
		return rr.RangeResources(ctx, prefix)
	}
	return rangeEach(ctx, b, prefix)
}

// rangeEach is RangeResources for a backend without one of its own.
func rangeEach(ctx context.Context, b Backend, prefix string) ([]ResourceRange, error) {
	names, err := b.Resources(ctx, prefix)
	if err != nil {
		return nil, err
	}
	out := make([]ResourceRange, 0, len(names))
	for _, name := range names {
		r, err := b.Range(ctx, name)
		if err != nil {
			return nil, fmt.Errorf("range %s: %w", name, err)
		}
		out = append(out, ResourceRange{Resource: name, RangeResult: r})
	}
	return out, nil
}
