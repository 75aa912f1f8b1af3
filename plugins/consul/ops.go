package consul

import (
	"context"

	"github.com/locksmithx/locksmith/sdk"
)

// Put creates or replaces the entry, acquired in Consul by its session,
// and records the resource in the session's registry, in one transaction
// with the revision's compare-and-swap. WithRange reads the entries back
// in the same transaction. A session Consul does not know (expired,
// revoked, never issued) gives sdk.ErrSessionExpired.
func (s *Store) Put(ctx context.Context, req sdk.PutRequest) (sdk.PutResult, error) {
	c, err := s.conn()
	if err != nil {
		return sdk.PutResult{}, err
	}
	if req.Resource == "" || req.Key == "" {
		return sdk.PutResult{}, sdk.Errorf(sdk.CodeInvalidArgument, "consul: put: resource and key must not be empty")
	}
	if !validSessionID(req.Session) {
		return sdk.PutResult{}, sdk.Errorf(sdk.CodeSessionExpired, "consul: put %q: no session %q", req.Resource, req.Session)
	}
	var res sdk.PutResult
	out, err := c.apply(ctx, "put", req.Resource, func(e *edit) error {
		old, exists := e.base.liveEntry(req.Key)
		if exists && req.IfAbsent {
			if !e.fresh {
				return errStale
			}
			return sdk.Errorf(sdk.CodeExists, "consul: put %q: entry %q exists", req.Resource, req.Key)
		}
		e.removeDead()
		rev := e.next()
		rec := record{createRev: rev, modRev: rev, session: req.Session, value: req.Value}
		if exists {
			rec.createRev = old.rec.createRev
			if old.holder != req.Session {
				// Another session holds the key: take it over in place.
				e.ops = append(e.ops, deleteOp(old.kv))
			}
		}
		e.set(req.Key, rec, true, 0)
		e.register(req.Session)
		e.withRange = req.WithRange
		res.CreateRev, res.ModRev = rec.createRev, rec.modRev
		return nil
	})
	if err != nil {
		return sdk.PutResult{}, err
	}
	res.Rev = out.rev
	if req.WithRange {
		res.Entries = out.entries
	}
	return res, nil
}

// Update replaces an entry's value if its ModRev (and, when set, the
// resource's revision) are what the caller expects; the KV entry keeps its
// session.
func (s *Store) Update(ctx context.Context, req sdk.UpdateRequest) (sdk.UpdateResult, error) {
	c, err := s.conn()
	if err != nil {
		return sdk.UpdateResult{}, err
	}
	if req.Resource == "" || req.Key == "" {
		return sdk.UpdateResult{}, sdk.Errorf(sdk.CodeInvalidArgument, "consul: update: resource and key must not be empty")
	}
	var res sdk.UpdateResult
	out, err := c.apply(ctx, "update", req.Resource, func(e *edit) error {
		old, ok := e.base.liveEntry(req.Key)
		switch {
		case !ok || old.rec.modRev != req.ExpectRev || req.ExpectResourceRev != 0 && req.ExpectResourceRev != e.base.rev:
			if !e.fresh {
				return errStale
			}
			if !ok {
				return sdk.Errorf(sdk.CodeNotFound, "consul: update %q: no entry %q", req.Resource, req.Key)
			}
			if old.rec.modRev != req.ExpectRev {
				return sdk.Errorf(sdk.CodeRevMismatch, "consul: update %q: entry %q is at revision %d, not %d", req.Resource, req.Key, old.rec.modRev, req.ExpectRev)
			}
			return sdk.Errorf(sdk.CodeRevMismatch, "consul: update %q: resource is at revision %d, not %d", req.Resource, e.base.rev, req.ExpectResourceRev)
		}
		e.removeDead()
		rec := old.rec
		rec.modRev, rec.value = e.next(), req.Value
		e.set(req.Key, rec, false, old.index)
		res.ModRev = rec.modRev
		return nil
	})
	if err != nil {
		return sdk.UpdateResult{}, err
	}
	res.Rev = out.rev
	return res, nil
}

// Delete removes an entry if its ModRev is what the caller expects (0:
// any).
func (s *Store) Delete(ctx context.Context, req sdk.DeleteRequest) (sdk.DeleteResult, error) {
	c, err := s.conn()
	if err != nil {
		return sdk.DeleteResult{}, err
	}
	if req.Resource == "" || req.Key == "" {
		return sdk.DeleteResult{}, sdk.Errorf(sdk.CodeInvalidArgument, "consul: delete: resource and key must not be empty")
	}
	var res sdk.DeleteResult
	_, err = c.apply(ctx, "delete", req.Resource, func(e *edit) error {
		old, ok := e.base.liveEntry(req.Key)
		if !ok || req.ExpectRev != 0 && old.rec.modRev != req.ExpectRev {
			if !e.fresh {
				return errStale
			}
			if !ok {
				return sdk.Errorf(sdk.CodeNotFound, "consul: delete %q: no entry %q", req.Resource, req.Key)
			}
			return sdk.Errorf(sdk.CodeRevMismatch, "consul: delete %q: entry %q is at revision %d, not %d", req.Resource, req.Key, old.rec.modRev, req.ExpectRev)
		}
		e.removeDead()
		res.Rev = e.remove(old)
		return nil
	})
	if err != nil {
		return sdk.DeleteResult{}, err
	}
	return res, nil
}

// Range reads the resource's entries. Entries whose session Consul
// released are removed first (each removal a revision), so none is
// reported live.
func (s *Store) Range(ctx context.Context, resource string) (sdk.RangeResult, error) {
	c, err := s.conn()
	if err != nil {
		return sdk.RangeResult{}, err
	}
	if resource == "" {
		return sdk.RangeResult{}, sdk.Errorf(sdk.CodeInvalidArgument, "consul: range: resource is empty")
	}
	snap, err := c.read(ctx, resource)
	if err != nil {
		return sdk.RangeResult{}, err
	}
	if len(snap.dead()) == 0 {
		return sdk.RangeResult{Rev: snap.rev, Entries: snap.live()}, nil
	}
	out, err := c.clean(ctx, resource)
	if err != nil {
		return sdk.RangeResult{}, err
	}
	return sdk.RangeResult{Rev: out.rev, Entries: out.entries}, nil
}

// clean removes the resource's entries whose session Consul released.
func (c *conn) clean(ctx context.Context, resource string) (outcome, error) {
	return c.apply(ctx, "remove ended sessions' entries from", resource, func(e *edit) error {
		if !e.fresh {
			return errStale
		}
		e.removeDead()
		return nil
	})
}
