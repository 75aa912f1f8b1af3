package sdk_test

import (
	"context"
	"errors"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/locksmithx/locksmith/plugins/file"
	"github.com/locksmithx/locksmith/sdk"
)

// Operations FuzzStoreRequests sends; the op byte picks one modulo their
// number.
const (
	fuzzPut = iota
	fuzzUpdate
	fuzzDelete
	fuzzRange
	fuzzOpenSession
	fuzzKeepAlive
	fuzzOps
)

// Bits of FuzzStoreRequests's flags.
const (
	fuzzIfAbsent    = 1 << iota // Put: IfAbsent
	fuzzWithRange               // Put: WithRange
	fuzzRelativeRev             // expectRev is added to the entry's ModRev
	fuzzRelativeRes             // resRev is added to the resource's revision
)

// fuzzStore is the store every FuzzStoreRequests input goes to: a real
// file store behind the sdk's gRPC server and client, with two live
// sessions.
type fuzzStore struct {
	be      sdk.Backend
	dir     string
	live    [2]string
	renewed time.Time
}

// FuzzStoreRequests sends requests with random fields through the sdk's
// gRPC client and server to a file store. No request may panic either
// side; a request the store rejects must change nothing (the resource's
// revision and entries are as before); one it accepts must do what it
// says and raise the resource's revision.
func FuzzStoreRequests(f *testing.F) {
	f.Add(uint8(fuzzPut), "r", "k", uint8(0), []byte(`{"mode":"exclusive"}`), int64(0), int64(0), int64(0), uint8(fuzzIfAbsent|fuzzWithRange))
	f.Add(uint8(fuzzPut), "r", "k", uint8(2), []byte("v"), int64(0), int64(0), int64(0), uint8(0))
	f.Add(uint8(fuzzUpdate), "r", "k", uint8(0), []byte("v2"), int64(0), int64(0), int64(0), uint8(fuzzRelativeRev|fuzzRelativeRes))
	f.Add(uint8(fuzzUpdate), "r", "k", uint8(0), []byte("v3"), int64(0), int64(-1), int64(0), uint8(fuzzRelativeRev|fuzzRelativeRes))
	f.Add(uint8(fuzzDelete), "r", "k", uint8(1), []byte(nil), int64(1), int64(0), int64(0), uint8(fuzzRelativeRev))
	f.Add(uint8(fuzzDelete), "r", "k", uint8(0), []byte(nil), int64(0), int64(0), int64(0), uint8(fuzzRelativeRev))
	f.Add(uint8(fuzzRange), "/abs/path/r", "", uint8(0), []byte(nil), int64(0), int64(0), int64(0), uint8(0))
	f.Add(uint8(fuzzOpenSession), "", "", uint8(0), []byte(nil), int64(0), int64(0), int64(-5), uint8(0))
	f.Add(uint8(fuzzKeepAlive), "", "", uint8(3), []byte("not-a-session"), int64(0), int64(0), int64(0), uint8(0))
	f.Add(uint8(fuzzPut), "a\x00b", "k", uint8(0), []byte("v"), int64(0), int64(0), int64(0), uint8(0))
	f.Add(uint8(fuzzPut), "r", "\xff", uint8(0), []byte("v"), int64(0), int64(0), int64(0), uint8(0))
	st := newFuzzStore(f)
	f.Fuzz(func(t *testing.T, op uint8, resource, key string, sess uint8, value []byte, expectRev, resRev, ttl int64, flags uint8) {
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		st.renew(t, ctx)
		resource = st.confine(resource)
		session := st.session(sess, value)

		before, rerr := st.be.Range(ctx, resource)
		var cur sdk.Entry
		for _, e := range before.Entries {
			if e.Key == key {
				cur = e
			}
		}
		if flags&fuzzRelativeRev != 0 {
			expectRev += cur.ModRev
		}
		if flags&fuzzRelativeRes != 0 {
			resRev += before.Rev
		}

		var err error
		var wrote bool // the request, if accepted, changes the resource
		switch int(op) % fuzzOps {
		case fuzzPut:
			var r sdk.PutResult
			r, err = st.be.Put(ctx, sdk.PutRequest{Resource: resource, Key: key, Value: value, Session: session,
				IfAbsent: flags&fuzzIfAbsent != 0, WithRange: flags&fuzzWithRange != 0})
			if err == nil {
				wrote = true
				after := st.check(t, ctx, resource, before)
				e, ok := find(after.Entries, key)
				if !ok || !bytesEqual(e.Value, value) || e.Session != session || e.ModRev != r.ModRev || e.CreateRev != r.CreateRev || r.Rev != after.Rev {
					t.Fatalf("put %q/%q accepted (%+v) but the store holds %+v at revision %d", resource, key, r, e, after.Rev)
				}
				if flags&fuzzWithRange != 0 && !reflect.DeepEqual(normal(r.Entries), normal(after.Entries)) {
					t.Fatalf("put's range %v differs from the store's %v", r.Entries, after.Entries)
				}
			}
		case fuzzUpdate:
			var r sdk.UpdateResult
			r, err = st.be.Update(ctx, sdk.UpdateRequest{Resource: resource, Key: key, Value: value,
				ExpectRev: expectRev, ExpectResourceRev: resRev})
			if err == nil {
				wrote = true
				after := st.check(t, ctx, resource, before)
				e, ok := find(after.Entries, key)
				if !ok || !bytesEqual(e.Value, value) || e.CreateRev != cur.CreateRev || e.ModRev != r.ModRev || expectRev != cur.ModRev ||
					resRev != 0 && resRev != before.Rev {
					t.Fatalf("update %q/%q (expect %d, resource %d) accepted on %+v at %d; the store holds %+v", resource, key, expectRev, resRev, cur, before.Rev, e)
				}
			}
		case fuzzDelete:
			_, err = st.be.Delete(ctx, sdk.DeleteRequest{Resource: resource, Key: key, ExpectRev: expectRev})
			if err == nil {
				wrote = true
				after := st.check(t, ctx, resource, before)
				if _, ok := find(after.Entries, key); ok || cur.Key == "" || expectRev != 0 && expectRev != cur.ModRev {
					t.Fatalf("delete %q/%q (expect %d) accepted on %+v; entries now %v", resource, key, expectRev, cur, after.Entries)
				}
			}
		case fuzzRange:
			if rerr == nil {
				if err := sortedByCreate(before.Entries); err != nil {
					t.Fatalf("range %q: %v", resource, err)
				}
			}
			return
		case fuzzOpenSession:
			var s sdk.Session
			s, err = st.be.OpenSession(ctx, time.Duration(ttl), map[string]string{key: string(value)})
			if err == nil {
				if s.ID == "" || s.TTL <= 0 {
					t.Fatalf("open session with ttl %d: %+v", ttl, s)
				}
				if err := st.be.Revoke(ctx, s.ID); err != nil {
					t.Fatalf("revoke a session just opened: %v", err)
				}
			} else if ttl >= int64(time.Millisecond) && ttl < int64(time.Hour) && utf8Clean(key, string(value)) {
				// The wire carries whole milliseconds: a shorter TTL
				// arrives as 0 and is refused.
				t.Fatalf("open session with ttl %s refused: %v", time.Duration(ttl), err)
			}
		case fuzzKeepAlive:
			_, err = st.be.KeepAlive(ctx, session)
			if err == nil && session != st.live[0] && session != st.live[1] {
				t.Fatalf("keep-alive of %q, not an open session, accepted", session)
			}
			return
		}
		if rerr != nil {
			if err == nil && wrote {
				t.Fatalf("range of %q fails (%v) but a write to it was accepted", resource, rerr)
			}
			return
		}
		if err != nil {
			if !errors.Is(err, ctx.Err()) && sdk.CodeOf(err) == sdk.CodeUnknown && !strings.Contains(err.Error(), "invalid UTF-8") {
				t.Errorf("rejection without a code: %v", err)
			}
			after, aerr := st.be.Range(ctx, resource)
			if aerr != nil {
				t.Fatalf("range after a rejected request: %v", aerr)
			}
			if after.Rev != before.Rev || !reflect.DeepEqual(normal(after.Entries), normal(before.Entries)) {
				t.Fatalf("rejected request (%v) changed %q: revision %d -> %d, entries %v -> %v",
					err, resource, before.Rev, after.Rev, before.Entries, after.Entries)
			}
		}
		st.trim(t, ctx, resource)
	})
}

func newFuzzStore(tb testing.TB) *fuzzStore {
	dir := tb.TempDir()
	impl := file.New()
	if err := impl.Configure(context.Background(), sdk.Config{
		"named_dir":   filepath.Join(dir, "named"),
		"session_dir": filepath.Join(dir, "sessions"),
	}); err != nil {
		tb.Fatalf("configure the file store: %v", err)
	}
	tb.Cleanup(func() { _ = impl.Close() })
	st := &fuzzStore{be: sdk.TestBackendConn(tb, impl), dir: dir}
	for i := range st.live {
		s, err := st.be.OpenSession(context.Background(), time.Minute, nil)
		if err != nil {
			tb.Fatalf("open session: %v", err)
		}
		st.live[i] = s.ID
	}
	st.renewed = time.Now()
	return st
}

// renew keeps the two live sessions alive.
func (st *fuzzStore) renew(t *testing.T, ctx context.Context) {
	if time.Since(st.renewed) < 10*time.Second {
		return
	}
	for _, id := range st.live {
		if _, err := st.be.KeepAlive(ctx, id); err != nil {
			t.Fatalf("renew live session %s: %v", id, err)
		}
	}
	st.renewed = time.Now()
}

// confine keeps a file resource (an absolute path) inside the test's
// directory: the store keeps its state beside the path.
func (st *fuzzStore) confine(resource string) string {
	if !filepath.IsAbs(resource) {
		return resource
	}
	return filepath.Join(st.dir, "files", filepath.Clean(resource))
}

// session picks the request's session: a live one, or one that is not
// open (the value's text, or none).
func (st *fuzzStore) session(pick uint8, value []byte) string {
	switch pick % 4 {
	case 0, 1:
		return st.live[pick%4]
	case 2:
		return string(value)
	}
	return ""
}

// check reads the resource after an accepted write: its revision must
// have risen and its entries stay in creation order.
func (st *fuzzStore) check(t *testing.T, ctx context.Context, resource string, before sdk.RangeResult) sdk.RangeResult {
	after, err := st.be.Range(ctx, resource)
	if err != nil {
		t.Fatalf("range %q after an accepted write: %v", resource, err)
	}
	if after.Rev <= before.Rev {
		t.Fatalf("accepted write left %q at revision %d (was %d)", resource, after.Rev, before.Rev)
	}
	if err := sortedByCreate(after.Entries); err != nil {
		t.Fatalf("%q: %v", resource, err)
	}
	return after
}

// trim deletes a resource's entries once it has many, so the store stays
// small however long the fuzzing runs.
func (st *fuzzStore) trim(t *testing.T, ctx context.Context, resource string) {
	r, err := st.be.Range(ctx, resource)
	if err != nil || len(r.Entries) < 16 {
		return
	}
	for _, e := range r.Entries {
		if _, err := st.be.Delete(ctx, sdk.DeleteRequest{Resource: resource, Key: e.Key, ExpectRev: e.ModRev}); err != nil {
			t.Fatalf("delete %q/%q at its own revision: %v", resource, e.Key, err)
		}
	}
}

func find(es []sdk.Entry, key string) (sdk.Entry, bool) {
	for _, e := range es {
		if e.Key == key {
			return e, true
		}
	}
	return sdk.Entry{}, false
}

func sortedByCreate(es []sdk.Entry) error {
	for i := 1; i < len(es); i++ {
		if es[i].CreateRev <= es[i-1].CreateRev {
			return errors.New("entries not in creation order")
		}
	}
	return nil
}

// normal makes empty and nil values compare equal, as gRPC carries them.
func normal(es []sdk.Entry) []sdk.Entry {
	out := make([]sdk.Entry, len(es))
	for i, e := range es {
		if len(e.Value) == 0 {
			e.Value = nil
		}
		out[i] = e
	}
	return out
}

func bytesEqual(a, b []byte) bool { return string(a) == string(b) }

// utf8Clean reports whether every string can cross gRPC (proto3 strings
// must be valid UTF-8).
func utf8Clean(ss ...string) bool {
	for _, s := range ss {
		if strings.ToValidUTF8(s, "\uFFFD") != s {
			return false
		}
	}
	return true
}
