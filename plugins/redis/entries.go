package redis

import (
	"context"
	"fmt"
	"strings"

	goredis "github.com/redis/go-redis/v9"

	"github.com/locksmithx/locksmith/sdk"
)

// reply is what a resource script returned.
type reply struct {
	status    string
	rev       int64
	createRev int64
	modRev    int64
	entries   []sdk.Entry
}

// run runs a resource script on name with the sessions known dead, extra
// keys after the resource's own, and the operation's arguments.
func (c *conn) run(ctx context.Context, op string, s *goredis.Script, name string, dead []string, extra []string, args ...any) (reply, error) {
	keys, argv := c.scriptArgs(name, dead, extra, args...)
	return c.scriptReply(op, name, s.Run(ctx, c.rdb, keys, argv...))
}

// scriptArgs are the keys and arguments of a resource script's run.
func (c *conn) scriptArgs(name string, dead []string, extra []string, args ...any) ([]string, []any) {
	r := c.keys.resource(name)
	keys := append(r.keys(), extra...)
	inline := c.keys.sessionPrefix()
	if c.cluster {
		inline = ""
	}
	argv := append([]any{r.channel, c.cfg.History, inline, strings.Join(dead, ","), name}, args...)
	return keys, argv
}

// scriptReply reads what a resource script's run returned.
func (c *conn) scriptReply(op, name string, cmd *goredis.Cmd) (reply, error) {
	v, err := cmd.Result()
	if err != nil {
		return reply{}, c.fail(op, err)
	}
	rep, err := parseReply(v)
	if err != nil {
		return reply{}, sdk.Errorf(sdk.CodeCorrupt, "redis: %s %q: %v", op, name, err)
	}
	return rep, nil
}

func parseReply(v any) (reply, error) {
	a, ok := v.([]any)
	if !ok || len(a) != 5 {
		return reply{}, fmt.Errorf("unexpected script reply %v", v)
	}
	var rep reply
	rep.status, _ = a[0].(string)
	rep.rev, _ = a[1].(int64)
	rep.createRev, _ = a[2].(int64)
	rep.modRev, _ = a[3].(int64)
	flat, _ := a[4].([]any)
	if len(flat)%5 != 0 {
		return reply{}, fmt.Errorf("unexpected entry list of %d items", len(flat))
	}
	for i := 0; i < len(flat); i += 5 {
		key, _ := flat[i].(string)
		val, _ := flat[i+1].(string)
		sess, _ := flat[i+2].(string)
		crev, _ := flat[i+3].(int64)
		mrev, _ := flat[i+4].(int64)
		rep.entries = append(rep.entries, sdk.Entry{Key: key, Value: []byte(val), Session: sess, CreateRev: crev, ModRev: mrev})
	}
	return rep, nil
}

func boolArg(b bool) string {
	if b {
		return "1"
	}
	return "0"
}

func checkRequest(op, resource, key string) error {
	if resource == "" {
		return sdk.Errorf(sdk.CodeInvalidArgument, "redis: %s: resource is empty", op)
	}
	if key == "" {
		return sdk.Errorf(sdk.CodeInvalidArgument, "redis: %s %q: key is empty", op, resource)
	}
	return nil
}

// Put creates or replaces an entry in one script run. On a single node or
// Sentinel the script itself checks the session and records the resource
// in the session's set. In Cluster that is a separate command on the
// session's slot, skipped while this process knows the session is alive
// and already recorded the resource.
func (s *Store) Put(ctx context.Context, req sdk.PutRequest) (sdk.PutResult, error) {
	c, err := s.conn()
	if err != nil {
		return sdk.PutResult{}, err
	}
	if err := checkPut(req); err != nil {
		return sdk.PutResult{}, err
	}
	if c.cluster {
		if err := c.attach(ctx, req.Session, req.Resource); err != nil {
			return sdk.PutResult{}, err
		}
	}
	keys, argv := c.putArgs(req)
	return c.putResult(ctx, req, putScript.Run(ctx, c.rdb, keys, argv...))
}

func checkPut(req sdk.PutRequest) error {
	if err := checkRequest("put", req.Resource, req.Key); err != nil {
		return err
	}
	if !validSessionID(req.Session) {
		return sdk.Errorf(sdk.CodeSessionExpired, "redis: put %q: no session %q", req.Resource, req.Session)
	}
	return nil
}

// putArgs are the keys and arguments of a put's script run.
func (c *conn) putArgs(req sdk.PutRequest) ([]string, []any) {
	var extra []string
	if !c.cluster {
		extra = []string{c.keys.session(req.Session), c.keys.sessionResources(req.Session)}
	}
	return c.scriptArgs(req.Resource, nil, extra,
		req.Key, req.Value, req.Session, boolArg(req.IfAbsent), boolArg(req.WithRange))
}

// putResult is a put's result from its script's run. In Cluster, where
// the script cannot read sessions (other slots), the entries of dead
// sessions in a put with range are removed here.
func (c *conn) putResult(ctx context.Context, req sdk.PutRequest, cmd *goredis.Cmd) (sdk.PutResult, error) {
	rep, err := c.scriptReply("put", req.Resource, cmd)
	if err != nil {
		return sdk.PutResult{}, err
	}
	if rep.status == "ok" && req.WithRange && c.cluster {
		if err := c.dropDead(ctx, req.Resource, &rep); err != nil {
			return sdk.PutResult{}, err
		}
	}
	switch rep.status {
	case "expired":
		if c.live != nil {
			c.live.forget(req.Session)
		}
		return sdk.PutResult{}, sdk.Errorf(sdk.CodeSessionExpired, "redis: put %q: session %s has expired or was revoked", req.Resource, req.Session)
	case "exists":
		return sdk.PutResult{}, sdk.Errorf(sdk.CodeExists, "redis: put %q: key %q exists (created at revision %d)", req.Resource, req.Key, rep.createRev)
	}
	res := sdk.PutResult{CreateRev: rep.createRev, ModRev: rep.modRev, Rev: rep.rev}
	if req.WithRange {
		res.Entries = nonNil(rep.entries)
	}
	return res, nil
}

// Update replaces an entry's value if its ModRev is req.ExpectRev and, when
// req.ExpectResourceRev is set, the resource is still at that revision.
func (s *Store) Update(ctx context.Context, req sdk.UpdateRequest) (sdk.UpdateResult, error) {
	c, err := s.conn()
	if err != nil {
		return sdk.UpdateResult{}, err
	}
	if err := checkRequest("update", req.Resource, req.Key); err != nil {
		return sdk.UpdateResult{}, err
	}
	rep, err := c.run(ctx, "update", updateScript, req.Resource, nil, nil, req.Key, req.Value, req.ExpectRev, req.ExpectResourceRev)
	if err != nil {
		return sdk.UpdateResult{}, err
	}
	if rep.status == "stale" {
		return sdk.UpdateResult{}, sdk.Errorf(sdk.CodeRevMismatch, "redis: update %q: resource is at revision %d, not %d", req.Resource, rep.rev, req.ExpectResourceRev)
	}
	if err := statusErr("update", req.Resource, req.Key, req.ExpectRev, rep); err != nil {
		return sdk.UpdateResult{}, err
	}
	return sdk.UpdateResult{ModRev: rep.modRev, Rev: rep.rev}, nil
}

// Delete removes an entry if its ModRev is req.ExpectRev (0: any).
func (s *Store) Delete(ctx context.Context, req sdk.DeleteRequest) (sdk.DeleteResult, error) {
	c, err := s.conn()
	if err != nil {
		return sdk.DeleteResult{}, err
	}
	if err := checkRequest("delete", req.Resource, req.Key); err != nil {
		return sdk.DeleteResult{}, err
	}
	keys, argv := c.deleteArgs(req)
	return c.deleteResult(ctx, req, deleteScript.Run(ctx, c.rdb, keys, argv...))
}

// deleteArgs are the keys and arguments of a delete's script run.
func (c *conn) deleteArgs(req sdk.DeleteRequest) ([]string, []any) {
	return c.scriptArgs(req.Resource, nil, nil, req.Key, req.ExpectRev, boolArg(req.WithRange))
}

// deleteResult is a delete's result from its script's run; in Cluster
// the entries of dead sessions in a delete with range are removed here,
// as for a put.
func (c *conn) deleteResult(ctx context.Context, req sdk.DeleteRequest, cmd *goredis.Cmd) (sdk.DeleteResult, error) {
	rep, err := c.scriptReply("delete", req.Resource, cmd)
	if err != nil {
		return sdk.DeleteResult{}, err
	}
	if rep.status == "ok" && req.WithRange && c.cluster {
		if err := c.dropDead(ctx, req.Resource, &rep); err != nil {
			return sdk.DeleteResult{}, err
		}
	}
	if err := statusErr("delete", req.Resource, req.Key, req.ExpectRev, rep); err != nil {
		return sdk.DeleteResult{}, err
	}
	res := sdk.DeleteResult{Rev: rep.rev}
	if req.WithRange {
		res.Entries = nonNil(rep.entries)
	}
	return res, nil
}

func statusErr(op, resource, key string, expect int64, rep reply) error {
	switch rep.status {
	case "notfound":
		return sdk.Errorf(sdk.CodeNotFound, "redis: %s %q: no key %q", op, resource, key)
	case "mismatch":
		return sdk.Errorf(sdk.CodeRevMismatch, "redis: %s %q: key %q is at revision %d, not %d", op, resource, key, rep.modRev, expect)
	}
	return nil
}

// Range returns the resource's live entries in creation order.
func (s *Store) Range(ctx context.Context, resource string) (sdk.RangeResult, error) {
	c, err := s.conn()
	if err != nil {
		return sdk.RangeResult{}, err
	}
	if resource == "" {
		return sdk.RangeResult{}, sdk.Errorf(sdk.CodeInvalidArgument, "redis: range: resource is empty")
	}
	rep, err := c.rangeLive(ctx, resource)
	if err != nil {
		return sdk.RangeResult{}, err
	}
	return sdk.RangeResult{Rev: rep.rev, Entries: nonNil(rep.entries)}, nil
}

// rangeLive reads a resource, removing the entries of dead sessions first.
func (c *conn) rangeLive(ctx context.Context, resource string) (reply, error) {
	rep, err := c.run(ctx, "range", rangeScript, resource, nil, nil)
	if err != nil {
		return reply{}, err
	}
	if c.cluster {
		err = c.dropDead(ctx, resource, &rep)
	}
	return rep, err
}

// purge removes the entries of the given dead sessions from a resource.
func (c *conn) purge(ctx context.Context, resource string, dead []string) error {
	_, err := c.run(ctx, "remove expired entries", rangeScript, resource, dead, nil)
	return err
}

func nonNil(es []sdk.Entry) []sdk.Entry {
	if es == nil {
		return []sdk.Entry{}
	}
	return es
}
