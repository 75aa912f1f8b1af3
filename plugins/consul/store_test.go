package consul

import (
	"context"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/consul/api"

	"github.com/locksmithx/locksmith/internal/consultest"
	"github.com/locksmithx/locksmith/sdk"
)

func mustSession(t testing.TB, s *Store, ttl time.Duration) string {
	t.Helper()
	sess, err := s.OpenSession(ctxT(t), ttl, map[string]string{"test": t.Name()})
	if err != nil {
		t.Fatal(err)
	}
	return sess.ID
}

// TestSessionRenewedByAnotherProcess: a session is renewed by id alone, so
// a store that did not open it — a restarted plugin process — keeps it
// alive, and its entries with it.
func TestSessionRenewedByAnotherProcess(t *testing.T) {
	agent := consultest.StartDev(t)
	first := open(t, agent.Addr, nil)
	ctx := ctxT(t)
	sess, err := first.OpenSession(ctx, 2*time.Second, nil)
	if err != nil {
		t.Fatal(err)
	}
	if sess.TTL != 2*time.Second {
		t.Fatalf("granted TTL %v for 2s on an agent with session_ttl_min 1s", sess.TTL)
	}
	p, err := first.Put(ctx, sdk.PutRequest{Resource: "adopt", Key: "k", Session: sess.ID, IfAbsent: true})
	if err != nil {
		t.Fatal(err)
	}
	_ = first.Close()
	second := open(t, agent.Addr, nil)
	for start := time.Now(); time.Since(start) < 3*sess.TTL; {
		ttl, err := second.KeepAlive(ctx, sess.ID)
		if err != nil || ttl != sess.TTL {
			t.Fatalf("renewal by another store: %v, %v", ttl, err)
		}
		time.Sleep(sess.TTL / 4)
	}
	r, err := second.Range(ctx, "adopt")
	if err != nil || len(r.Entries) != 1 || r.Entries[0].CreateRev != p.CreateRev {
		t.Fatalf("after %v of renewals by another store: %+v %v", 3*sess.TTL, r, err)
	}
}

// TestTTLBelowAgentMinimumRoundsUp: the grant is at least twice the
// agent's session_ttl_min, and says so.
func TestTTLBelowAgentMinimumRoundsUp(t *testing.T) {
	agent := consultest.StartDev(t, consultest.WithSessionTTLMin("3s"))
	s := open(t, agent.Addr, nil)
	sess, err := s.OpenSession(ctxT(t), time.Second, nil)
	if err != nil {
		t.Fatal(err)
	}
	if sess.TTL != 6*time.Second {
		t.Fatalf("granted %v for 1s on an agent with session_ttl_min 3s, want 6s", sess.TTL)
	}
	info, _, err := s.c.api.Session().Info(sess.ID, nil)
	if err != nil || info == nil || info.TTL != "3s" || info.Behavior != api.SessionBehaviorRelease || info.LockDelay != 0 {
		t.Fatalf("consul session: %+v %v; want TTL 3s, release, no lock-delay", info, err)
	}
}

// TestCheckAndRepair: Check finds entries of a session that ended without
// Revoke (Consul released them) and its registry, a revision counter
// behind the entries and a malformed entry; Repair removes and fixes them,
// after which Check is clean and revisions go on above every one handed
// out.
func TestCheckAndRepair(t *testing.T) {
	agent := consultest.StartDev(t)
	s := open(t, agent.Addr, sdk.Config{"prefix": "repair/"})
	ctx := ctxT(t)
	dead := mustSession(t, s, 60*time.Second)
	live := mustSession(t, s, 60*time.Second)
	if _, err := s.Put(ctx, sdk.PutRequest{Resource: "a", Key: "gone", Session: dead}); err != nil {
		t.Fatal(err)
	}
	p, err := s.Put(ctx, sdk.PutRequest{Resource: "a", Key: "kept", Session: live})
	if err != nil {
		t.Fatal(err)
	}
	// The session ends without Revoke: Consul releases its keys.
	if _, err := s.c.api.Session().Destroy(dead, nil); err != nil {
		t.Fatal(err)
	}
	kv := s.c.api.KV()
	if _, err := kv.Put(&api.KVPair{Key: s.c.keys.rev("b"), Value: []byte("1")}, nil); err != nil {
		t.Fatal(err)
	}
	if _, err := kv.Put(&api.KVPair{Key: s.c.keys.entry("b", "k"), Value: encodeRecord(record{createRev: 5, modRev: 7, session: live})}, nil); err != nil {
		t.Fatal(err)
	}
	if _, err := kv.Put(&api.KVPair{Key: s.c.keys.entry("b", "junk"), Value: []byte("not a record")}, nil); err != nil {
		t.Fatal(err)
	}
	s.c.cache.drop("b")

	found, err := s.Check(ctx, "")
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"session " + dead + ", which has ended", "revision counter is 1 but revision 7", `entry "junk"`, "session " + dead + " ended without Revoke"}
	for _, w := range want {
		if !hasProblem(found, w) {
			t.Errorf("Check: no problem mentioning %q in %+v", w, found)
		}
	}
	if r, err := s.Range(ctx, "a"); err != nil || len(r.Entries) != 1 || r.Entries[0].Key != "kept" {
		t.Fatalf("Range before Repair readdr %+v, %v; want only the live session's entry", r, err)
	}
	fixed, err := s.Repair(ctx, "")
	if err != nil {
		t.Fatal(err)
	}
	if len(fixed) == 0 || !fixed[0].Repaired {
		t.Fatalf("Repair: %+v", fixed)
	}
	if again, err := s.Check(ctx, ""); err != nil || len(again) != 0 {
		t.Fatalf("Check after Repair: %+v %v", again, err)
	}
	if keys, _, _ := kv.Keys(s.c.keys.session(dead), "", nil); len(keys) != 0 {
		t.Errorf("registry of the ended session left: %v", keys)
	}
	np, err := s.Put(ctx, sdk.PutRequest{Resource: "b", Key: "new", Session: live})
	if err != nil || np.CreateRev <= 7 {
		t.Fatalf("put after Repair: %+v %v; want a revision above 7", np, err)
	}
	if r, err := s.Range(ctx, "a"); err != nil || len(r.Entries) != 1 || r.Entries[0].CreateRev != p.CreateRev {
		t.Fatalf("Range after Repair: %+v %v", r, err)
	}
}

func hasProblem(ps []sdk.Problem, substr string) bool {
	for _, p := range ps {
		if strings.Contains(p.Message, substr) {
			return true
		}
	}
	return false
}

// TestConfigureUnreachable: an agent that does not answer gives
// ErrUnavailable naming it; Info before Configure works.
func TestConfigureUnreachable(t *testing.T) {
	s := New()
	if info, err := s.Info(context.Background()); err != nil || info.Name != "consul" || !info.Has(sdk.CapWatch) {
		t.Fatalf("Info before Configure: %+v %v", info, err)
	}
	addr, err := freeAddr()
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	err = s.Configure(ctx, sdk.Config{"address": addr})
	if sdk.CodeOf(err) != sdk.CodeUnavailable || !strings.Contains(err.Error(), addr) {
		t.Fatalf("Configure against nothing: %v; want ErrUnavailable naming %s", err, addr)
	}
}

// freeAddr returns a loopback address nothing listens on.
func freeAddr() (string, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	addr := l.Addr().String()
	return addr, l.Close()
}
