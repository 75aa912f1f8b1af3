package backendtest

import (
	"context"
	"errors"
	"os"
	"slices"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/locksmithx/locksmith/examples/memory-backend/memstore"
	"github.com/locksmithx/locksmith/sdk"
)

// broken is a backend that breaks one guarantee of the contract: each
// non-nil field replaces one method of the working store it wraps.
type broken struct {
	sdk.Backend
	info        func(context.Context) (sdk.PluginInfo, error)
	openSession func(context.Context, time.Duration, map[string]string) (sdk.Session, error)
	revoke      func(context.Context, string) error
	put         func(context.Context, sdk.PutRequest) (sdk.PutResult, error)
	update      func(context.Context, sdk.UpdateRequest) (sdk.UpdateResult, error)
	del         func(context.Context, sdk.DeleteRequest) (sdk.DeleteResult, error)
	rangeOf     func(context.Context, string) (sdk.RangeResult, error)
	watch       func(context.Context, string, int64, func(sdk.Event) error) error
	resources   func(context.Context, string) ([]string, error)
	check       func(context.Context, string) ([]sdk.Problem, error)
	adopt       func(context.Context, string, time.Duration, *os.File) (sdk.Session, error)
	batch       func(context.Context, []sdk.BatchOp) ([]sdk.BatchResult, error)
}

// Batch applies the ops one call each, through the broken calls, unless
// batch itself is broken.
func (b *broken) Batch(ctx context.Context, ops []sdk.BatchOp) ([]sdk.BatchResult, error) {
	if b.batch != nil {
		return b.batch(ctx, ops)
	}
	return sdk.ApplyEach(ctx, b, ops), nil
}

func (b *broken) Info(ctx context.Context) (sdk.PluginInfo, error) {
	if b.info != nil {
		return b.info(ctx)
	}
	return b.Backend.Info(ctx)
}

func (b *broken) OpenSession(ctx context.Context, ttl time.Duration, meta map[string]string) (sdk.Session, error) {
	if b.openSession != nil {
		return b.openSession(ctx, ttl, meta)
	}
	return b.Backend.OpenSession(ctx, ttl, meta)
}

func (b *broken) Revoke(ctx context.Context, id string) error {
	if b.revoke != nil {
		return b.revoke(ctx, id)
	}
	return b.Backend.Revoke(ctx, id)
}

func (b *broken) Put(ctx context.Context, req sdk.PutRequest) (sdk.PutResult, error) {
	if b.put != nil {
		return b.put(ctx, req)
	}
	return b.Backend.Put(ctx, req)
}

func (b *broken) Update(ctx context.Context, req sdk.UpdateRequest) (sdk.UpdateResult, error) {
	if b.update != nil {
		return b.update(ctx, req)
	}
	return b.Backend.Update(ctx, req)
}

func (b *broken) Delete(ctx context.Context, req sdk.DeleteRequest) (sdk.DeleteResult, error) {
	if b.del != nil {
		return b.del(ctx, req)
	}
	return b.Backend.Delete(ctx, req)
}

func (b *broken) Range(ctx context.Context, resource string) (sdk.RangeResult, error) {
	if b.rangeOf != nil {
		return b.rangeOf(ctx, resource)
	}
	return b.Backend.Range(ctx, resource)
}

func (b *broken) Watch(ctx context.Context, resource string, fromRev int64, send func(sdk.Event) error) error {
	if b.watch != nil {
		return b.watch(ctx, resource, fromRev, send)
	}
	return b.Backend.Watch(ctx, resource, fromRev, send)
}

func (b *broken) Resources(ctx context.Context, prefix string) ([]string, error) {
	if b.resources != nil {
		return b.resources(ctx, prefix)
	}
	return b.Backend.Resources(ctx, prefix)
}

func (b *broken) Check(ctx context.Context, resource string) ([]sdk.Problem, error) {
	if b.check != nil {
		return b.check(ctx, resource)
	}
	return b.Backend.Check(ctx, resource)
}

// breakage is one broken guarantee and the check that must catch it.
type breakage struct {
	name  string
	check string
	// remote runs the check through the suite's gRPC connections.
	remote bool
	// breakStore wraps a working store s into b, which breaks a guarantee.
	breakStore func(s sdk.Backend, b *broken)
	// want, when set, must appear in the failure: the check names the
	// guarantee that broke, not a symptom.
	want string
}

var breakages = []breakage{
	{name: "ResourcesListedTwice", check: "RangeResources", breakStore: func(s sdk.Backend, b *broken) {
		b.resources = func(ctx context.Context, prefix string) ([]string, error) {
			names, err := s.Resources(ctx, prefix)
			if len(names) > 0 {
				names = append(names, names[0])
			}
			return names, err
		}
	}, want: "twice"},
	{name: "InfoKindMiddleware", check: "InfoAndHealth", breakStore: func(s sdk.Backend, b *broken) {
		b.info = func(ctx context.Context) (sdk.PluginInfo, error) {
			i, err := s.Info(ctx)
			i.Kind = sdk.KindMiddleware
			return i, err
		}
	}},
	{name: "DeleteReportsOldRevision", check: "RevisionsIncrease", breakStore: func(s sdk.Backend, b *broken) {
		b.del = func(ctx context.Context, req sdk.DeleteRequest) (sdk.DeleteResult, error) {
			r, err := s.Delete(ctx, req)
			r.Rev--
			return r, err
		}
	}},
	{name: "FreshResourceAheadOfItsChanges", check: "RevisionsIncrease", want: "never written", breakStore: func(s sdk.Backend, b *broken) {
		b.rangeOf = func(ctx context.Context, resource string) (sdk.RangeResult, error) {
			r, err := s.Range(ctx, resource)
			if len(r.Entries) == 0 {
				r.Rev += 1000
			}
			return r, err
		}
	}},
	{name: "ReplaceRecreates", check: "PutCreatesAndReplaces", breakStore: func(s sdk.Backend, b *broken) {
		b.put = func(ctx context.Context, req sdk.PutRequest) (sdk.PutResult, error) {
			_, _ = s.Delete(ctx, sdk.DeleteRequest{Resource: req.Resource, Key: req.Key})
			return s.Put(ctx, req)
		}
	}},
	{name: "IfAbsentIgnored", check: "PutIfAbsent", breakStore: func(s sdk.Backend, b *broken) {
		b.put = func(ctx context.Context, req sdk.PutRequest) (sdk.PutResult, error) {
			req.IfAbsent = false
			return s.Put(ctx, req)
		}
	}},
	{name: "UpdateIgnoresRevision", check: "UpdateCompareAndSwap", breakStore: func(s sdk.Backend, b *broken) {
		b.update = func(ctx context.Context, req sdk.UpdateRequest) (sdk.UpdateResult, error) {
			if rg, err := s.Range(ctx, req.Resource); err == nil {
				if en, ok := find(rg.Entries, req.Key); ok {
					req.ExpectRev = en.ModRev
				}
			}
			return s.Update(ctx, req)
		}
	}},
	{name: "UpdateIgnoresResourceRevision", check: "UpdateResourceGuard", breakStore: func(s sdk.Backend, b *broken) {
		b.update = func(ctx context.Context, req sdk.UpdateRequest) (sdk.UpdateResult, error) {
			req.ExpectResourceRev = 0
			return s.Update(ctx, req)
		}
	}},
	{name: "DeleteIgnoresRevision", check: "DeleteCompareAndSwap", breakStore: func(s sdk.Backend, b *broken) {
		b.del = func(ctx context.Context, req sdk.DeleteRequest) (sdk.DeleteResult, error) {
			req.ExpectRev = 0
			return s.Delete(ctx, req)
		}
	}},
	{name: "RangeByKey", check: "RangeCreationOrder", breakStore: func(s sdk.Backend, b *broken) {
		b.rangeOf = func(ctx context.Context, resource string) (sdk.RangeResult, error) {
			r, err := s.Range(ctx, resource)
			sort.Slice(r.Entries, func(i, j int) bool { return r.Entries[i].Key < r.Entries[j].Key })
			return r, err
		}
	}},
	{name: "RangeTakenAfterPut", check: "PutWithRangeConcurrentSnapshots", breakStore: func(s sdk.Backend, b *broken) {
		b.put = func(ctx context.Context, req sdk.PutRequest) (sdk.PutResult, error) {
			withRange := req.WithRange
			req.WithRange = false
			r, err := s.Put(ctx, req)
			if err != nil || !withRange {
				return r, err
			}
			time.Sleep(2 * time.Millisecond)
			rg, err := s.Range(ctx, req.Resource)
			r.Entries, r.Rev = rg.Entries, rg.Rev
			return r, err
		}
	}},
	{name: "PutWithRangeTakenBeforePut", check: "PutWithRange", breakStore: func(s sdk.Backend, b *broken) {
		b.put = func(ctx context.Context, req sdk.PutRequest) (sdk.PutResult, error) {
			rg, err := s.Range(ctx, req.Resource)
			if err != nil {
				return sdk.PutResult{}, err
			}
			r, err := s.Put(ctx, req)
			if req.WithRange {
				r.Entries = rg.Entries
			}
			return r, err
		}
	}},
	{name: "PutWithRangeShowsOnlyOwnEntry", check: "ConcurrentMutualExclusion", breakStore: func(s sdk.Backend, b *broken) {
		b.put = func(ctx context.Context, req sdk.PutRequest) (sdk.PutResult, error) {
			r, err := s.Put(ctx, req)
			if own, ok := find(r.Entries, req.Key); ok {
				r.Entries = []sdk.Entry{own}
			}
			return r, err
		}
	}},
	{name: "WatchDropsDeletes", check: "WatchReplaysHistory", breakStore: func(s sdk.Backend, b *broken) {
		b.watch = func(ctx context.Context, resource string, fromRev int64, send func(sdk.Event) error) error {
			return s.Watch(ctx, resource, fromRev, func(ev sdk.Event) error {
				if ev.Type == sdk.EventDelete {
					return nil
				}
				return send(ev)
			})
		}
	}},
	{name: "DeleteRangeBeforeTheDelete", check: "DeleteWithRange", want: "entries after the delete", breakStore: func(s sdk.Backend, b *broken) {
		// Answers with the queue as it was before the delete.
		b.del = func(ctx context.Context, req sdk.DeleteRequest) (sdk.DeleteResult, error) {
			before, err := s.Range(ctx, req.Resource)
			if err != nil {
				return sdk.DeleteResult{}, err
			}
			res, err := s.Delete(ctx, req)
			if req.WithRange {
				res.Entries = before.Entries
			}
			return res, err
		}
	}},
	{name: "DeleteRangeDropsOthers", check: "DeleteWithRange", want: "entries after the delete", breakStore: func(s sdk.Backend, b *broken) {
		// Answers with only the first entry left.
		b.del = func(ctx context.Context, req sdk.DeleteRequest) (sdk.DeleteResult, error) {
			res, err := s.Delete(ctx, req)
			if len(res.Entries) > 1 {
				res.Entries = res.Entries[:1]
			}
			return res, err
		}
	}},
	{name: "BatchOutOfOrder", check: "Batch", want: "in the batch's order", breakStore: func(s sdk.Backend, b *broken) {
		// Applies the ops last to first.
		b.batch = func(ctx context.Context, ops []sdk.BatchOp) ([]sdk.BatchResult, error) {
			rev := make([]sdk.BatchOp, len(ops))
			for i, op := range ops {
				rev[len(ops)-1-i] = op
			}
			rs, err := sdk.Batch(ctx, s, rev)
			if err != nil {
				return nil, err
			}
			out := make([]sdk.BatchResult, len(rs))
			for i, r := range rs {
				out[len(rs)-1-i] = r
			}
			return out, nil
		}
	}},
	{name: "BatchStopsAtError", check: "Batch", want: "want success", breakStore: func(s sdk.Backend, b *broken) {
		// Gives up on the ops after the first that fails.
		b.batch = func(ctx context.Context, ops []sdk.BatchOp) ([]sdk.BatchResult, error) {
			rs, err := sdk.Batch(ctx, s, ops)
			if err != nil {
				return nil, err
			}
			for i := range rs {
				if rs[i].Err != nil {
					for j := i + 1; j < len(rs); j++ {
						rs[j] = sdk.BatchResult{Err: rs[i].Err}
					}
					break
				}
			}
			return rs, nil
		}
	}},
	{name: "WakeOnFiltersEvents", check: "WatchWakeOnDeliversAll", want: "woken by its key's change", breakStore: func(s sdk.Backend, b *broken) {
		// Takes the hint for a filter: only the named keys' changes.
		b.watch = func(ctx context.Context, resource string, fromRev int64, send func(sdk.Event) error) error {
			keys := sdk.WakeOn(ctx)
			return s.Watch(ctx, resource, fromRev, func(ev sdk.Event) error {
				if len(keys) > 0 && !slices.Contains(keys, ev.Entry.Key) {
					return nil
				}
				return send(ev)
			})
		}
	}},
	{name: "WatchFromRevisionExclusive", check: "WatchFromMidHistory", breakStore: func(s sdk.Backend, b *broken) {
		b.watch = func(ctx context.Context, resource string, fromRev int64, send func(sdk.Event) error) error {
			return s.Watch(ctx, resource, fromRev+1, send)
		}
	}},
	{name: "WatchReplaysOneTooMany", check: "WatchFromCurrentRevision", breakStore: func(s sdk.Backend, b *broken) {
		b.watch = func(ctx context.Context, resource string, fromRev int64, send func(sdk.Event) error) error {
			return s.Watch(ctx, resource, fromRev-1, send)
		}
	}},
	{name: "WatchIgnoresCancel", check: "WatchEndsWithContext", breakStore: func(s sdk.Backend, b *broken) {
		b.watch = func(ctx context.Context, resource string, fromRev int64, send func(sdk.Event) error) error {
			late, cancel := context.WithTimeout(context.WithoutCancel(ctx), 3*time.Second)
			defer cancel()
			err := s.Watch(late, resource, fromRev, send)
			if errors.Is(err, context.DeadlineExceeded) {
				return nil
			}
			return err
		}
	}},
	{name: "WatchIgnoresSendError", check: "WatchReturnsSendError", breakStore: func(s sdk.Backend, b *broken) {
		b.watch = func(ctx context.Context, resource string, fromRev int64, send func(sdk.Event) error) error {
			return s.Watch(ctx, resource, fromRev, func(ev sdk.Event) error { _ = send(ev); return nil })
		}
	}},
	{name: "WatchSkipsCompactedHistory", check: "WatchCompacted", breakStore: func(s sdk.Backend, b *broken) {
		b.watch = func(ctx context.Context, resource string, fromRev int64, send func(sdk.Event) error) error {
			err := s.Watch(ctx, resource, fromRev, send)
			if errors.Is(err, sdk.ErrCompacted) {
				rg, rerr := s.Range(ctx, resource)
				if rerr != nil {
					return rerr
				}
				return s.Watch(ctx, resource, rg.Rev-5, send)
			}
			return err
		}
	}},
	{name: "UnknownSessionAccepted", check: "UnknownSession", breakStore: func(s sdk.Backend, b *broken) {
		b.put = func(ctx context.Context, req sdk.PutRequest) (sdk.PutResult, error) {
			r, err := s.Put(ctx, req)
			if errors.Is(err, sdk.ErrSessionExpired) {
				return sdk.PutResult{}, nil
			}
			return r, err
		}
	}},
	{name: "RevokeKeepsEntries", check: "RevokeRemovesEntries", breakStore: func(s sdk.Backend, b *broken) {
		b.revoke = func(context.Context, string) error { return nil }
	}},
	{name: "ResourcesIgnoresPrefix", check: "ResourcesAndCheck", breakStore: func(s sdk.Backend, b *broken) {
		b.resources = func(ctx context.Context, _ string) ([]string, error) {
			return []string{"elsewhere/a", "elsewhere/b"}, nil
		}
	}},
	{name: "ResourcesErrors", check: "ResourcesAndCheck", want: "it must answer", breakStore: func(s sdk.Backend, b *broken) {
		b.resources = func(context.Context, string) ([]string, error) {
			return nil, sdk.Errorf(sdk.CodeUnavailable, "cannot enumerate")
		}
	}},
	{name: "ResourcesListsNothing", check: "ResourcesAndCheck", want: "which has a live entry", breakStore: func(s sdk.Backend, b *broken) {
		b.resources = func(context.Context, string) ([]string, error) { return nil, nil }
	}},
	{name: "ResourcesListsSiblings", check: "ResourcesAndCheck", want: "must honour its prefix", breakStore: func(s sdk.Backend, b *broken) {
		b.resources = func(ctx context.Context, prefix string) ([]string, error) {
			// Lists everything under the prefix's parent: a prefix taken
			// as a directory, not as a string prefix.
			if i := strings.LastIndex(strings.TrimSuffix(prefix, "/"), "/"); i > 0 {
				prefix = prefix[:i+1]
			}
			return s.Resources(ctx, prefix)
		}
	}},
	{name: "CheckErrors", check: "ResourcesAndCheck", want: "must answer, with no problem", breakStore: func(s sdk.Backend, b *broken) {
		b.check = func(context.Context, string) ([]sdk.Problem, error) {
			return nil, sdk.Errorf(sdk.CodeUnavailable, "cannot check")
		}
	}},
	{name: "UpdateZeroIsWildcard", check: "UpdateCompareAndSwap", want: "no wildcard", breakStore: func(s sdk.Backend, b *broken) {
		b.update = func(ctx context.Context, req sdk.UpdateRequest) (sdk.UpdateResult, error) {
			if req.ExpectRev == 0 {
				if rg, err := s.Range(ctx, req.Resource); err == nil {
					if en, ok := find(rg.Entries, req.Key); ok {
						req.ExpectRev = en.ModRev
					}
				}
			}
			return s.Update(ctx, req)
		}
	}},
	{name: "UpdateZeroCreates", check: "UpdateCompareAndSwap", want: "Update never creates", breakStore: func(s sdk.Backend, b *broken) {
		b.update = func(ctx context.Context, req sdk.UpdateRequest) (sdk.UpdateResult, error) {
			r, err := s.Update(ctx, req)
			if req.ExpectRev == 0 && errors.Is(err, sdk.ErrNotFound) {
				// Creates the entry under some live session of the resource.
				rg, rerr := s.Range(ctx, req.Resource)
				if rerr != nil || len(rg.Entries) == 0 {
					return r, err
				}
				p, perr := s.Put(ctx, sdk.PutRequest{Resource: req.Resource, Key: req.Key, Value: req.Value, Session: rg.Entries[0].Session})
				return sdk.UpdateResult{ModRev: p.ModRev, Rev: p.Rev}, perr
			}
			return r, err
		}
	}},
	{name: "RevokeLeavesEntriesNamed", check: "RevokeRemovesEntries", want: "entries must be removed", breakStore: func(s sdk.Backend, b *broken) {
		b.revoke = func(context.Context, string) error { return nil }
	}},
	{name: "RemovalsWithoutEvents", check: "RevokeRemovesEntries", want: "did not report their removal", breakStore: func(s sdk.Backend, b *broken) {
		b.watch = func(ctx context.Context, resource string, fromRev int64, send func(sdk.Event) error) error {
			return s.Watch(ctx, resource, fromRev, func(ev sdk.Event) error {
				if ev.Type == sdk.EventDelete {
					return nil
				}
				return send(ev)
			})
		}
	}},
	{name: "SessionExpiresOnlyOnRange", check: "SessionExpires", want: "without a read to trigger it", breakStore: func(s sdk.Backend, b *broken) {
		// Sessions end only when a Range finds them past their deadline.
		var mu sync.Mutex
		deadlines := map[string]time.Time{}
		b.openSession = func(ctx context.Context, ttl time.Duration, meta map[string]string) (sdk.Session, error) {
			sess, err := s.OpenSession(ctx, time.Hour, meta)
			mu.Lock()
			deadlines[sess.ID] = time.Now().Add(ttl)
			mu.Unlock()
			sess.TTL = ttl
			return sess, err
		}
		b.rangeOf = func(ctx context.Context, resource string) (sdk.RangeResult, error) {
			mu.Lock()
			for id, dl := range deadlines {
				if time.Now().After(dl) {
					_ = s.Revoke(ctx, id)
					delete(deadlines, id)
				}
			}
			mu.Unlock()
			return s.Range(ctx, resource)
		}
	}},
	{name: "WatchResumeSkipsOne", check: "WatchResumesAfterCut", want: "no gap, no repeat", breakStore: func(s sdk.Backend, b *broken) {
		var calls atomic.Int64
		b.watch = func(ctx context.Context, resource string, fromRev int64, send func(sdk.Event) error) error {
			if calls.Add(1) > 1 {
				fromRev++ // a resumed watch loses the change at its revision
			}
			return s.Watch(ctx, resource, fromRev, send)
		}
	}},
	{name: "UpdateLastWriterWins", check: "CompareAndSwapStorm", want: "compare-and-swap broken", breakStore: func(s sdk.Backend, b *broken) {
		b.update = func(ctx context.Context, req sdk.UpdateRequest) (sdk.UpdateResult, error) {
			// Reads the current revision and swaps on it: a stale
			// expectation wins anyway.
			if rg, err := s.Range(ctx, req.Resource); err == nil {
				if en, ok := find(rg.Entries, req.Key); ok {
					req.ExpectRev = en.ModRev
				}
			}
			return s.Update(ctx, req)
		}
	}},
	{name: "RangeServesStaleReads", check: "Linearizable", want: "not linearizable", breakStore: func(s sdk.Backend, b *broken) {
		// Every other Range answers what the one before it saw.
		var mu sync.Mutex
		last := map[string]sdk.RangeResult{}
		n := 0
		b.rangeOf = func(ctx context.Context, resource string) (sdk.RangeResult, error) {
			mu.Lock()
			defer mu.Unlock()
			n++
			if old, ok := last[resource]; ok && n%2 == 0 {
				return old, nil
			}
			r, err := s.Range(ctx, resource)
			if err == nil {
				last[resource] = r
			}
			return r, err
		}
	}},
	{name: "WriteRenewsSession", check: "SessionExpiresMidOperation", want: "writes must not renew a session", breakStore: func(s sdk.Backend, b *broken) {
		b.update = func(ctx context.Context, req sdk.UpdateRequest) (sdk.UpdateResult, error) {
			if rg, err := s.Range(ctx, req.Resource); err == nil {
				if en, ok := find(rg.Entries, req.Key); ok {
					_, _ = s.KeepAlive(ctx, en.Session)
				}
			}
			return s.Update(ctx, req)
		}
	}},
	{name: "RestartLosesEntries", check: "RestartKeepsState", want: "a persistent store keeps its entries", breakStore: func(s sdk.Backend, b *broken) {
		b.rangeOf = func(ctx context.Context, resource string) (sdk.RangeResult, error) {
			r, err := s.Range(ctx, resource)
			if later(s) {
				r.Entries = nil
			}
			return r, err
		}
	}},
	{name: "InstancesDoNotShare", check: "SharedStoreInstances", want: "does not see the first's entry", breakStore: func(s sdk.Backend, b *broken) {
		b.rangeOf = func(ctx context.Context, resource string) (sdk.RangeResult, error) {
			if later(s) {
				return sdk.RangeResult{}, nil
			}
			return s.Range(ctx, resource)
		}
	}},
	{name: "SessionNeverExpires", check: "SessionExpires", breakStore: func(s sdk.Backend, b *broken) {
		b.openSession = func(ctx context.Context, ttl time.Duration, meta map[string]string) (sdk.Session, error) {
			sess, err := s.OpenSession(ctx, time.Hour, meta)
			sess.TTL = ttl
			return sess, err
		}
	}},
	{name: "SessionExpiresEarly", check: "SessionKeptAlive", breakStore: func(s sdk.Backend, b *broken) {
		b.openSession = func(ctx context.Context, ttl time.Duration, meta map[string]string) (sdk.Session, error) {
			sess, err := s.OpenSession(ctx, ttl/4, meta)
			sess.TTL = ttl
			return sess, err
		}
	}},
	{name: "BrokenStreamKeepsSession", check: "BrokenKeepAliveStreamRevokes", remote: true, breakStore: func(s sdk.Backend, b *broken) {
		b.revoke = func(context.Context, string) error { return nil }
	}},
	{name: "AdoptAnything", check: "AdoptUnknownOrEndedSession", breakStore: func(s sdk.Backend, b *broken) {
		b.adopt = func(_ context.Context, id string, ttl time.Duration, _ *os.File) (sdk.Session, error) {
			return sdk.Session{ID: id, TTL: ttl}, nil
		}
	}},
	{name: "RangeResourcesMissesOne", check: "RangeResources", breakStore: func(s sdk.Backend, b *broken) {
		b.resources = func(ctx context.Context, prefix string) ([]string, error) {
			names, err := s.Resources(ctx, prefix)
			if len(names) > 0 {
				names = names[:len(names)-1]
			}
			return names, err
		}
	}},
	{name: "AdoptDropsEntries", check: "AdoptedSessionKeepsEntries", breakStore: func(s sdk.Backend, b *broken) {
		b.adopt = func(ctx context.Context, id string, ttl time.Duration, _ *os.File) (sdk.Session, error) {
			// Starts the session afresh: what it held is gone.
			return sdk.Session{ID: id, TTL: ttl}, s.Revoke(ctx, id)
		}
	}},
	{name: "AdoptedNeverExpires", check: "AdoptedSessionExpires", breakStore: func(s sdk.Backend, b *broken) {
		b.adopt = func(ctx context.Context, id string, ttl time.Duration, anchor *os.File) (sdk.Session, error) {
			sess, err := s.(sdk.SessionAdopter).AdoptSession(ctx, id, ttl, anchor)
			go func() {
				for i := 0; i < 40; i++ {
					time.Sleep(ttl / 4)
					_, _ = s.KeepAlive(context.Background(), id)
				}
			}()
			return sess, err
		}
	}},
}

// later reports whether s is not the first instance on its store: a
// restarted, fresh or second one.
func later(s sdk.Backend) bool {
	a, ok := s.(*adoptingStore)
	return ok && a.later
}

// selfTestConfig makes the checks quick enough to run each one twice.
func selfTestConfig() config {
	c := defaultConfig()
	c.ttl = 300 * time.Millisecond
	c.slack = 300 * time.Millisecond
	c.timeout = 1500 * time.Millisecond
	c.clients = 8
	c.shared = true
	return c
}

// TestChecksCatchBrokenStores runs each check against a working store,
// where it must pass, and against a store that breaks the guarantee the
// check is about, where it must fail.
func TestChecksCatchBrokenStores(t *testing.T) {
	covered := map[string]bool{}
	for _, bk := range breakages {
		covered[bk.check] = true
		t.Run(bk.name, func(t *testing.T) {
			t.Parallel()
			c, ok := checkNamed(bk.check)
			if !ok {
				t.Fatalf("no check named %s", bk.check)
			}
			if ok := runRecorded(t, c, bk.remote, func(s sdk.Backend) sdk.Backend { return s }); !ok {
				return
			}
			runRecordedBroken(t, c, bk)
		})
	}
	for _, c := range checks {
		if !covered[c.name] {
			t.Errorf("check %s has no breakage proving it can fail", c.name)
		}
	}
}

// runRecorded runs c against a working store and reports whether it
// passed.
func runRecorded(t *testing.T, c check, remote bool, wrap func(sdk.Backend) sdk.Backend) bool {
	t.Helper()
	rec := recordCheck(t, c, remote, wrap)
	if rec.failed || rec.skipped {
		t.Errorf("check %s on a working store: failed %v, skipped %v; want a pass:\n%s", c.name, rec.failed, rec.skipped, rec)
		return false
	}
	return true
}

func runRecordedBroken(t *testing.T, c check, bk breakage) {
	t.Helper()
	rec := recordCheck(t, c, bk.remote, func(s sdk.Backend) sdk.Backend {
		b := &broken{Backend: s}
		bk.breakStore(s, b)
		return b
	})
	if !rec.failed {
		t.Errorf("check %s passed on a store with %s; want a failure:\n%s", c.name, bk.name, rec)
		return
	}
	if bk.want != "" && !strings.Contains(rec.String(), bk.want) {
		t.Errorf("check %s failed on a store with %s, but without naming the broken guarantee (%q):\n%s", c.name, bk.name, bk.want, rec)
		return
	}
	t.Logf("check %s caught %s:\n%s", c.name, bk.name, rec)
}

// recordCheck runs c, on a fresh store wrapped by wrap, against a recorder.
func recordCheck(t *testing.T, c check, remote bool, wrap func(sdk.Backend) sdk.Backend) *recorder {
	t.Helper()
	s := memstore.New()
	t.Cleanup(func() { _ = s.Close() })
	if err := s.Configure(context.Background(), sdk.Config{"history": 64}); err != nil {
		t.Fatalf("configure: %v", err)
	}
	first := &adoptingStore{Backend: s}
	impl := wrap(first)
	rec := &recorder{name: t.Name()}
	e := newEnv(rec, impl, selfTestConfig())
	if remote {
		e.b = sdk.TestBackendConn(t, impl)
		e.dial = func() (sdk.Backend, func()) { return sdk.TestBackendConnClosable(t, impl) }
	}
	e.crash = func() { first.dead.Store(true) }
	e.fresh = func() sdk.Backend { return wrap(&adoptingStore{Backend: s, later: true}) }
	e.another = e.fresh
	e.restart = func() sdk.Backend {
		first.dead.Store(true)
		return wrap(&adoptingStore{Backend: s, later: true})
	}
	rec.run(c.run, e)
	return rec
}

func checkNamed(name string) (check, bool) {
	for _, c := range checks {
		if c.name == name {
			return c, true
		}
	}
	return check{}, false
}
