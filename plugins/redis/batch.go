package redis

import (
	"context"
	"errors"

	goredis "github.com/redis/go-redis/v9"

	"github.com/locksmithx/locksmith/sdk"
)

// Batch applies the ops in one pipelined round trip to Redis: each op is
// its own script run, exactly as its own Put or Delete would be. Redis
// runs a pipeline's commands in order, so ops on one resource are applied
// in the batch's order.
//
// On a single node or Sentinel the pipeline starts by loading the scripts
// it runs (SCRIPT LOAD of a cached script is a hash and a lookup): had
// Redis lost its script cache, some ops finding their script and others
// not would be applied out of order. In Cluster, whose pipeline splits by
// node, a script load would reach one node only, so each op is sent with
// its script's source (EVAL; Redis caches the compiled script by its
// hash); a put first records its resource in its session's set, unless
// this process knows it did, and a put or delete with range checks its
// queue's sessions afterwards, as its own call does.
func (s *Store) Batch(ctx context.Context, ops []sdk.BatchOp) ([]sdk.BatchResult, error) {
	c, err := s.conn()
	if err != nil {
		return nil, err
	}
	out := make([]sdk.BatchResult, len(ops))
	type run struct {
		i      int
		script *goredis.Script
		src    string
		keys   []string
		argv   []any
		cmd    *goredis.Cmd
	}
	runs := make([]*run, 0, len(ops))
	for i, op := range ops {
		switch {
		case op.Put != nil:
			if err := checkPut(*op.Put); err != nil {
				out[i].Err = err
				continue
			}
			if c.cluster {
				if err := c.attach(ctx, op.Put.Session, op.Put.Resource); err != nil {
					out[i].Err = err
					continue
				}
			}
			keys, argv := c.putArgs(*op.Put)
			runs = append(runs, &run{i: i, script: putScript, src: putSource, keys: keys, argv: argv})
		case op.Delete != nil:
			if err := checkRequest("delete", op.Delete.Resource, op.Delete.Key); err != nil {
				out[i].Err = err
				continue
			}
			keys, argv := c.deleteArgs(*op.Delete)
			runs = append(runs, &run{i: i, script: deleteScript, src: deleteSource, keys: keys, argv: argv})
		default:
			out[i].Err = sdk.Errorf(sdk.CodeInvalidArgument, "redis: batch op %d is neither a put nor a delete", i)
		}
	}
	if len(runs) > 0 {
		_, err := c.rdb.Pipelined(ctx, func(p goredis.Pipeliner) error {
			if c.cluster {
				for _, r := range runs {
					r.cmd = p.Eval(ctx, r.src, r.keys, r.argv...)
				}
				return nil
			}
			loaded := map[*goredis.Script]bool{}
			for _, r := range runs {
				if !loaded[r.script] {
					loaded[r.script] = true
					r.script.Load(ctx, p)
				}
			}
			for _, r := range runs {
				r.cmd = r.script.EvalSha(ctx, p, r.keys, r.argv...)
			}
			return nil
		})
		if err != nil && !isRedisReply(err) {
			// The round trip itself failed: no op's fate is known.
			return nil, c.fail("batch", err)
		}
	}
	for _, r := range runs {
		if op := ops[r.i]; op.Put != nil {
			out[r.i].Put, out[r.i].Err = c.putResult(ctx, *op.Put, r.cmd)
		} else {
			out[r.i].Delete, out[r.i].Err = c.deleteResult(ctx, *op.Delete, r.cmd)
		}
	}
	return out, nil
}

// isRedisReply reports whether err is an error reply from Redis to one
// command (such as NOSCRIPT), rather than a failure of the connection.
func isRedisReply(err error) bool {
	var re goredis.Error
	return errors.As(err, &re) && !errors.Is(err, goredis.ErrClosed)
}

var _ sdk.Batcher = (*Store)(nil)
