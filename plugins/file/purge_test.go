package file

import (
	"fmt"
	"testing"
	"time"

	"github.com/locksmithx/locksmith/sdk"
)

// TestReleaseProbesTheHeadOfTheQueue: a Delete that reports no entries
// checks only the first sessions of the queue for death, not all of it; a
// dead entry further back stays until a full read (a Delete with the
// queue, a Range) purges it, which never reports it.
func TestReleaseProbesTheHeadOfTheQueue(t *testing.T) {
	dir := t.TempDir()
	s := newStore(t, dir)
	holder := openSession(t, s, time.Minute)
	mustPut(t, s, sdk.PutRequest{Resource: "r", Key: "head", Session: holder})

	others := newStore(t, dir)
	var deep string
	for i := range headProbe + 4 {
		sess := openSession(t, others, time.Minute)
		mustPut(t, others, sdk.PutRequest{Resource: "r", Key: fmt.Sprintf("w%02d", i), Session: sess})
		if i == headProbe+2 {
			deep = sess
		}
	}
	mustPut(t, s, sdk.PutRequest{Resource: "r", Key: "again", Session: holder})
	killSession(others, deep)
	time.Sleep(3 * s.cfg.probeInterval)

	ctx := testCtx(t)
	r0 := stateRev(t, s, "r")
	d, err := s.Delete(ctx, sdk.DeleteRequest{Resource: "r", Key: "head"})
	if err != nil {
		t.Fatal(err)
	}
	if d.Rev != r0+1 {
		t.Fatalf("a release without the queue moved the revision %d → %d: it purged the entry of a session %d places back", r0, d.Rev, headProbe+3)
	}
	d, err = s.Delete(ctx, sdk.DeleteRequest{Resource: "r", Key: "again", WithRange: true})
	if err != nil {
		t.Fatal(err)
	}
	if d.Rev != r0+3 {
		t.Fatalf("a release with the queue: revision %d, want %d (the purge, then the delete)", d.Rev, r0+3)
	}
	for _, e := range d.Entries {
		if e.Session == deep {
			t.Fatalf("a release with the queue reported the entry %s of a dead session", e.Key)
		}
	}
	if n := len(d.Entries); n != headProbe+3 {
		t.Fatalf("%d entries left, want %d", n, headProbe+3)
	}
}

// stateRev reads resource's revision under the state file's lock without
// purging anything: the revision as the last change left it.
func stateRev(t *testing.T, s *Store, resource string) int64 {
	t.Helper()
	sf, err := s.open(resource)
	if err != nil {
		t.Fatal(err)
	}
	defer s.doneWith(sf)
	var rev int64
	if err := s.viewProbing(testCtx(t), sf, false, probeSpec{limit: 0}, func(st *state) { rev = st.rev }); err != nil {
		t.Fatal(err)
	}
	return rev
}
