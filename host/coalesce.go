package host

import (
	"context"
	"sync"
	"sync/atomic"

	"github.com/locksmithx/locksmith/sdk"
)

// maxFlights is how many write calls a coalescer lets run at once before
// it holds writes back to send them together.
const maxFlights = 2

// maxBatch bounds the writes of one Batch call.
const maxBatch = 256

// coalescer sends the puts and deletes of one plugin process. While fewer
// than maxFlights of its calls are in flight, a write is sent at once, on
// its own: a lone caller waits for nothing. Beyond that, writes wait, and
// when a call returns, those waiting go out together as one Batch call
// (sdk.CapBatch). Many concurrent callers (a LockBatch, a server's
// clients) then cost the plugin and its store one call per wave rather
// than one each, and no write waits longer than the calls ahead of it.
type coalescer struct {
	be    sdk.Backend
	stats *writeStats

	mu      sync.Mutex
	flights int
	pending []*write
}

// write is one caller's write waiting in a coalescer.
type write struct {
	ctx  context.Context
	op   sdk.BatchOp
	res  sdk.BatchResult
	sent bool // under the coalescer's mu: taken into a batch
	done chan struct{}
}

// writeStats counts the Batch calls of a plugin's coalescers and the
// writes they carried.
type writeStats struct {
	batches, writes atomic.Uint64
}

func newCoalescer(be sdk.Backend, stats *writeStats) *coalescer {
	return &coalescer{be: be, stats: stats}
}

func (c *coalescer) put(ctx context.Context, req sdk.PutRequest) (sdk.PutResult, error) {
	r := c.do(ctx, sdk.BatchOp{Put: &req})
	return r.Put, r.Err
}

func (c *coalescer) delete(ctx context.Context, req sdk.DeleteRequest) (sdk.DeleteResult, error) {
	r := c.do(ctx, sdk.BatchOp{Delete: &req})
	return r.Delete, r.Err
}

func (c *coalescer) do(ctx context.Context, op sdk.BatchOp) sdk.BatchResult {
	c.mu.Lock()
	if c.flights < maxFlights {
		c.flights++
		c.mu.Unlock()
		r := c.direct(ctx, op)
		c.landed()
		return r
	}
	w := &write{ctx: ctx, op: op, done: make(chan struct{})}
	c.pending = append(c.pending, w)
	c.mu.Unlock()
	select {
	case <-w.done:
		return w.res
	case <-ctx.Done():
		c.mu.Lock()
		if !w.sent {
			// Never sent: it will not be.
			for i, p := range c.pending {
				if p == w {
					c.pending = append(c.pending[:i], c.pending[i+1:]...)
					break
				}
			}
		}
		c.mu.Unlock()
		// A sent write's fate is its batch's, as a cancelled call's is.
		return sdk.BatchResult{Err: ctx.Err()}
	}
}

// direct sends op as its own Put or Delete.
func (c *coalescer) direct(ctx context.Context, op sdk.BatchOp) sdk.BatchResult {
	return sdk.ApplyEach(ctx, c.be, []sdk.BatchOp{op})[0]
}

// landed ends a flight: the writes waiting, if any, take it over as one
// batch.
func (c *coalescer) landed() {
	c.mu.Lock()
	if len(c.pending) == 0 {
		c.flights--
		c.mu.Unlock()
		return
	}
	n := min(len(c.pending), maxBatch)
	batch := make([]*write, n)
	copy(batch, c.pending)
	c.pending = append(c.pending[:0], c.pending[n:]...)
	for _, w := range batch {
		w.sent = true
	}
	c.mu.Unlock()
	go func() {
		c.send(batch)
		c.landed()
	}()
}

// send makes one call for the batch and hands each write its result. The
// call is cancelled only when every caller in it has given up.
func (c *coalescer) send(batch []*write) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var left atomic.Int64
	left.Store(int64(len(batch)))
	for _, w := range batch {
		stop := context.AfterFunc(w.ctx, func() {
			if left.Add(-1) == 0 {
				cancel()
			}
		})
		defer stop()
	}
	if len(batch) == 1 {
		batch[0].res = c.direct(ctx, batch[0].op)
		close(batch[0].done)
		return
	}
	c.stats.batches.Add(1)
	c.stats.writes.Add(uint64(len(batch)))
	ops := make([]sdk.BatchOp, len(batch))
	for i, w := range batch {
		ops[i] = w.op
	}
	rs, err := sdk.Batch(ctx, c.be, ops)
	for i, w := range batch {
		if err != nil {
			w.res = sdk.BatchResult{Err: err}
		} else {
			w.res = rs[i]
		}
		close(w.done)
	}
}
