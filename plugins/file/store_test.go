package file

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/locksmithx/locksmith/sdk"
)

// newStore returns a store configured on dir (named and session
// directories under it), closed when the test ends.
func newStore(t testing.TB, dir string, extra ...func(sdk.Config)) *Store {
	t.Helper()
	s := New()
	cfg := sdk.Config{
		"named_dir":      filepath.Join(dir, "named"),
		"session_dir":    filepath.Join(dir, "sessions"),
		"probe_interval": "20ms",
	}
	for _, f := range extra {
		f(cfg)
	}
	if err := s.Configure(context.Background(), cfg); err != nil {
		t.Fatalf("Configure: %v", err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}

func testCtx(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func openSession(t testing.TB, s *Store, ttl time.Duration) string {
	t.Helper()
	sess, err := s.OpenSession(testCtx(t), ttl, nil)
	if err != nil {
		t.Fatalf("OpenSession: %v", err)
	}
	return sess.ID
}

// holdStateLock takes the exclusive flock on resource's state file through
// a descriptor of its own, as another process changing the state would,
// and keeps it until the test ends.
func holdStateLock(t testing.TB, s *Store, resource string) {
	t.Helper()
	path, err := s.cfg.statePath(resource)
	if err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = f.Close() })
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX); err != nil {
		t.Fatal(err)
	}
}

// killSession makes session id of s die without ending, as its process's
// death would: its flock goes, its entries stay.
func killSession(s *Store, id string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	_ = s.sessions[id].f.Close()
}

func mustPut(t testing.TB, s *Store, req sdk.PutRequest) sdk.PutResult {
	t.Helper()
	r, err := s.Put(testCtx(t), req)
	if err != nil {
		t.Fatalf("Put(%s/%s): %v", req.Resource, req.Key, err)
	}
	return r
}

func TestConfigureRejectsUnknownAndBadValues(t *testing.T) {
	for _, tc := range []struct {
		cfg  sdk.Config
		want string
	}{
		{sdk.Config{"nmaed_dir": "/x"}, "nmaed_dir"},
		{sdk.Config{"named_dir": "relative"}, "named_dir"},
		{sdk.Config{"poll_interval": "soon"}, "poll_interval"},
		{sdk.Config{"poll_interval": "0s"}, "poll_interval"},
		{sdk.Config{"probe_interval": "1h"}, "probe_interval"},
		{sdk.Config{"suffix": "a/b"}, "suffix"},
	} {
		err := New().Configure(context.Background(), tc.cfg)
		if !errors.Is(err, sdk.ErrInvalidConfig) || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("Configure(%v) = %v; want ErrInvalidConfig naming %s", tc.cfg, err, tc.want)
		}
	}
}

func TestInfo(t *testing.T) {
	info, err := New().Info(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if info.Name != "file" || info.Kind != sdk.KindBackend || !info.Has(sdk.CapWatch) || !info.Has(sdk.CapPersistent) || !info.Has(sdk.CapRepair) {
		t.Errorf("Info = %+v", info)
	}
	if !strings.Contains(info.ConfigSchema, `"named_dir"`) {
		t.Errorf("schema lacks named_dir: %s", info.ConfigSchema)
	}
}

func TestStatePaths(t *testing.T) {
	dir := t.TempDir()
	s := newStore(t, dir)
	for _, tc := range []struct{ resource, want string }{
		{"/data/counter", "/data/counter.locksmith"},
		{"/data/./x/../counter", "/data/counter.locksmith"},
		{"db-migration", filepath.Join(dir, "named", "db-migration.locksmith")},
		{"../../etc/passwd", filepath.Join(dir, "named", "%2E.%2F..%2Fetc%2Fpasswd.locksmith")},
		{".hidden", filepath.Join(dir, "named", "%2Ehidden.locksmith")},
	} {
		got, err := s.cfg.statePath(tc.resource)
		if err != nil || got != tc.want {
			t.Errorf("statePath(%q) = %q, %v; want %q", tc.resource, got, err, tc.want)
		}
	}
	for _, bad := range []string{"", "/", "a\x00b"} {
		if _, err := s.cfg.statePath(bad); !errors.Is(err, sdk.ErrInvalidArgument) {
			t.Errorf("statePath(%q) = %v; want ErrInvalidArgument", bad, err)
		}
	}
	long := strings.Repeat("ü", 200)
	p, _ := s.cfg.statePath(long)
	if len(filepath.Base(p)) > 255 || filepath.Dir(p) != filepath.Join(dir, "named") {
		t.Errorf("long name maps to %q", p)
	}
	for _, name := range []string{"a/b c", "x%y", "plain", "ünï"} {
		if got, ok := unescapeName(escapeName(name)); !ok || got != name {
			t.Errorf("unescape(escape(%q)) = %q, %v", name, got, ok)
		}
	}
}

func TestFileResourceStateBesideFile(t *testing.T) {
	dir := t.TempDir()
	s := newStore(t, dir)
	sess := openSession(t, s, time.Minute)
	data := filepath.Join(dir, "counter")
	if err := os.WriteFile(data, []byte("41"), 0o644); err != nil {
		t.Fatal(err)
	}
	mustPut(t, s, sdk.PutRequest{Resource: data, Key: "k", Session: sess})
	if b, _ := os.ReadFile(data); string(b) != "41" {
		t.Errorf("the locked file changed: %q", b)
	}
	if _, err := os.Stat(data + ".locksmith"); err != nil {
		t.Errorf("no state beside the file: %v", err)
	}
	mustPut(t, s, sdk.PutRequest{Resource: "named/lock", Key: "k", Session: sess})
	rs, err := s.Resources(testCtx(t), "")
	if err != nil || len(rs) != 2 || rs[0] != data || rs[1] != "named/lock" {
		t.Errorf("Resources = %v, %v", rs, err)
	}
	rs, _ = s.Resources(testCtx(t), "named/")
	if len(rs) != 1 {
		t.Errorf("Resources(named/) = %v", rs)
	}
	// Another process finds the named lock by listing the directory.
	rs, _ = newStore(t, dir).Resources(testCtx(t), "")
	if len(rs) != 1 || rs[0] != "named/lock" {
		t.Errorf("Resources from a fresh store = %v", rs)
	}
}

func TestOperations(t *testing.T) {
	s := newStore(t, t.TempDir())
	ctx := testCtx(t)
	sess := openSession(t, s, time.Minute)
	r := "ops"
	if rg, err := s.Range(ctx, r); err != nil || rg.Rev != 0 || len(rg.Entries) != 0 {
		t.Fatalf("Range of a new resource = %+v, %v", rg, err)
	}
	a := mustPut(t, s, sdk.PutRequest{Resource: r, Key: "a", Value: []byte("1"), Session: sess})
	b := mustPut(t, s, sdk.PutRequest{Resource: r, Key: "b", Value: []byte("2"), Session: sess, WithRange: true})
	if a.CreateRev != 1 || b.CreateRev != 2 || len(b.Entries) != 2 || b.Entries[0].Key != "a" {
		t.Fatalf("puts: %+v %+v", a, b)
	}
	if _, err := s.Put(ctx, sdk.PutRequest{Resource: r, Key: "a", Session: sess, IfAbsent: true}); !errors.Is(err, sdk.ErrExists) {
		t.Errorf("IfAbsent on a present key: %v", err)
	}
	if _, err := s.Put(ctx, sdk.PutRequest{Resource: r, Key: "c", Session: "0123456789abcdef0123456789abcdef"}); !errors.Is(err, sdk.ErrSessionExpired) {
		t.Errorf("Put with an unknown session: %v", err)
	}
	a2 := mustPut(t, s, sdk.PutRequest{Resource: r, Key: "a", Value: []byte("3"), Session: sess})
	if a2.CreateRev != a.CreateRev || a2.ModRev != 3 {
		t.Errorf("replace: %+v", a2)
	}
	if _, err := s.Update(ctx, sdk.UpdateRequest{Resource: r, Key: "a", ExpectRev: 1}); !errors.Is(err, sdk.ErrRevMismatch) {
		t.Errorf("stale Update: %v", err)
	}
	u, err := s.Update(ctx, sdk.UpdateRequest{Resource: r, Key: "a", Value: []byte("4"), ExpectRev: 3})
	if err != nil || u.ModRev != 4 {
		t.Errorf("Update: %+v %v", u, err)
	}
	if _, err := s.Update(ctx, sdk.UpdateRequest{Resource: r, Key: "a", ExpectRev: 4, ExpectResourceRev: 3}); !errors.Is(err, sdk.ErrRevMismatch) {
		t.Errorf("Update guarded by a stale resource revision: %v", err)
	}
	if _, err := s.Update(ctx, sdk.UpdateRequest{Resource: r, Key: "zz", ExpectRev: 3}); !errors.Is(err, sdk.ErrNotFound) {
		t.Errorf("Update of a missing key: %v", err)
	}
	if _, err := s.Delete(ctx, sdk.DeleteRequest{Resource: r, Key: "b", ExpectRev: 1}); !errors.Is(err, sdk.ErrRevMismatch) {
		t.Errorf("stale Delete: %v", err)
	}
	if d, err := s.Delete(ctx, sdk.DeleteRequest{Resource: r, Key: "b"}); err != nil || d.Rev != 5 {
		t.Errorf("Delete: %+v %v", d, err)
	}
	if _, err := s.Delete(ctx, sdk.DeleteRequest{Resource: "never", Key: "b"}); !errors.Is(err, sdk.ErrNotFound) {
		t.Errorf("Delete in a resource without state: %v", err)
	}
	rg, err := s.Range(ctx, r)
	if err != nil || rg.Rev != 5 || len(rg.Entries) != 1 || string(rg.Entries[0].Value) != "4" {
		t.Errorf("Range = %+v, %v", rg, err)
	}
	// A fresh store (another process) reads the same state from disk.
	rg2, err := newStore(t, filepath.Dir(s.cfg.namedDir)).Range(ctx, r)
	if err != nil || rg2.Rev != 5 || len(rg2.Entries) != 1 || rg2.Entries[0].ModRev != 4 {
		t.Errorf("Range from another store = %+v, %v", rg2, err)
	}
}

// TestSweepRemovesDeadSessionFiles: files of sessions whose owner died are
// removed at start-up; live ones stay.
func TestSweepRemovesDeadSessionFiles(t *testing.T) {
	dir := t.TempDir()
	live := newStore(t, dir)
	liveID := openSession(t, live, time.Minute)
	sessions := filepath.Join(dir, "sessions")
	dead := filepath.Join(sessions, "0123456789abcdef0123456789abcdef")
	if err := os.WriteFile(dead, []byte("{}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	foreign := filepath.Join(sessions, "not-a-session")
	if err := os.WriteFile(foreign, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	s := newStore(t, dir)
	s.sweeping.Wait()
	if _, err := os.Stat(dead); !os.IsNotExist(err) {
		t.Errorf("dead session file still there: %v", err)
	}
	for _, p := range []string{filepath.Join(sessions, liveID), foreign} {
		if _, err := os.Stat(p); err != nil {
			t.Errorf("%s removed: %v", p, err)
		}
	}
}

func TestResourcesFindsHashedNames(t *testing.T) {
	dir := t.TempDir()
	s := newStore(t, dir)
	long := "team/" + strings.Repeat("x", 300)
	mustPut(t, s, sdk.PutRequest{Resource: long, Key: "k", Session: openSession(t, s, time.Minute)})
	rs, err := newStore(t, dir).Resources(testCtx(t), "team/")
	if err != nil || len(rs) != 1 || rs[0] != long {
		t.Errorf("Resources = %q, %v", rs, err)
	}
}

func TestSessionDirIsShared(t *testing.T) {
	dir := t.TempDir()
	newStore(t, dir)
	fi, err := os.Stat(filepath.Join(dir, "sessions"))
	if err != nil || fi.Mode()&(os.ModePerm|os.ModeSticky) != sharedDirMode {
		t.Errorf("session dir mode %v, %v; want %v", fi.Mode(), err, sharedDirMode)
	}
	fi, err = os.Stat(filepath.Join(dir, "named"))
	if err != nil || fi.Mode().Perm() != 0o700 {
		t.Errorf("named dir mode %v, %v", fi.Mode(), err)
	}
}
