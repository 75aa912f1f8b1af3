package sdk

import (
	"context"
	"sync"
)

// BatchOp is one write of a batch: exactly one of Put and Delete is set.
type BatchOp struct {
	Put    *PutRequest
	Delete *DeleteRequest
}

// Resource is the resource the op writes.
func (op BatchOp) Resource() string {
	if op.Put != nil {
		return op.Put.Resource
	}
	if op.Delete != nil {
		return op.Delete.Resource
	}
	return ""
}

// BatchResult answers one op of a batch: the result of its Put or Delete,
// or its error, as that call would have returned them.
type BatchResult struct {
	Put    PutResult
	Delete DeleteResult
	Err    error
}

// Batcher is implemented by a backend that applies many writes at once
// better than one call each does (a pipelined round trip to its store).
//
// Each op is applied as its own Put or Delete would be, atomically on its
// own; nothing is promised across ops, and one op's failure does not stop
// the others. Ops on one resource are applied in the batch's order. The
// results are in the ops' order. An error of the whole call means it did
// not run, or its ops' fate is unknown, as for a failed single call.
type Batcher interface {
	Batch(ctx context.Context, ops []BatchOp) ([]BatchResult, error)
}

// Batch applies ops on b: with b's own Batch when it has one (a plugin
// connection does: one call to the plugin), else with ApplyEach.
func Batch(ctx context.Context, b Backend, ops []BatchOp) ([]BatchResult, error) {
	if bb, ok := b.(Batcher); ok {
		return bb.Batch(ctx, ops)
	}
	return ApplyEach(ctx, b, ops), nil
}

// applyWorkers bounds how many resources ApplyEach writes at once.
const applyWorkers = 16

// ApplyEach applies ops with one Put or Delete each: the ops of one
// resource in order, different resources up to 16 at a time, as the same
// calls arriving from many callers would be. A store's own Batch can use
// it for what it cannot pipeline.
func ApplyEach(ctx context.Context, b Backend, ops []BatchOp) []BatchResult {
	out := make([]BatchResult, len(ops))
	apply := func(i int) {
		op := ops[i]
		switch {
		case op.Put != nil:
			out[i].Put, out[i].Err = b.Put(ctx, *op.Put)
		case op.Delete != nil:
			out[i].Delete, out[i].Err = b.Delete(ctx, *op.Delete)
		default:
			out[i].Err = Errorf(CodeInvalidArgument, "batch op %d is neither a put nor a delete", i)
		}
	}
	if len(ops) == 1 {
		apply(0)
		return out
	}
	// Group the ops by resource, keeping each group's order.
	var groups [][]int
	at := map[string]int{}
	for i, op := range ops {
		g, ok := at[op.Resource()]
		if !ok {
			g = len(groups)
			at[op.Resource()] = g
			groups = append(groups, nil)
		}
		groups[g] = append(groups[g], i)
	}
	work := make(chan []int)
	var wg sync.WaitGroup
	for w := 0; w < min(applyWorkers, len(groups)); w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for g := range work {
				for _, i := range g {
					apply(i)
				}
			}
		}()
	}
	for _, g := range groups {
		work <- g
	}
	close(work)
	wg.Wait()
	return out
}

// checkBatch checks that every op is a put or a delete.
func checkBatch(ops []BatchOp) error {
	for i, op := range ops {
		if (op.Put == nil) == (op.Delete == nil) {
			return Errorf(CodeInvalidArgument, "batch op %d must be exactly one of a put and a delete", i)
		}
	}
	return nil
}

// batchResultCount checks that an answer of n results has one per op.
func batchResultCount(ops []BatchOp, n int) error {
	if n != len(ops) {
		return Errorf(CodeUnknown, "batch of %d ops answered with %d results", len(ops), n)
	}
	return nil
}
