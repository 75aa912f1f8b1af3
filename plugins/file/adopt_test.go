package file

import (
	"syscall"
	"testing"
	"time"

	"github.com/locksmithx/locksmith/sdk"
)

// TestRevokeOfAdoptedSessionFreesWaiters: a session opened by a plugin
// process that was killed, and adopted by a new one, keeps its lock while
// the host holds its anchor; when the new process revokes it, a waiter in
// a third process is granted promptly, although the adopting process never
// learned which resources the session had entries in.
func TestRevokeOfAdoptedSessionFreesWaiters(t *testing.T) {
	dir := t.TempDir()
	first, waiter := launch(t, dir), launch(t, dir)
	ctx := testCtx(t)
	hs, err := first.Backend().OpenSession(ctx, 30*time.Second, nil)
	if err != nil {
		t.Fatal(err)
	}
	if hs.Anchor == nil {
		t.Fatal("the session has no anchor")
	}
	defer hs.Anchor.Close()
	if _, err := acquire(ctx, first.Backend(), "adopted-lock", hs.ID, "holder"); err != nil {
		t.Fatal(err)
	}
	ws, err := waiter.Backend().OpenSession(ctx, 30*time.Second, nil)
	if err != nil {
		t.Fatal(err)
	}
	granted := make(chan error, 1)
	go func() {
		_, err := acquire(ctx, waiter.Backend(), "adopted-lock", ws.ID, "waiter")
		granted <- err
	}()
	if err := syscall.Kill(first.Pid(), syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	second := launch(t, dir)
	if _, err := second.Backend().(sdk.SessionAdopter).AdoptSession(ctx, hs.ID, 30*time.Second, hs.Anchor); err != nil {
		t.Fatalf("adopt: %v", err)
	}
	select {
	case err := <-granted:
		t.Fatalf("waiter done while the adopted session holds the lock: %v", err)
	case <-time.After(300 * time.Millisecond):
	}
	revoked := time.Now()
	if err := second.Backend().Revoke(ctx, hs.ID); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-granted:
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("waiter granted %v after the adopted session was revoked", time.Since(revoked).Round(time.Millisecond))
	case <-time.After(5 * time.Second):
		t.Fatal("waiter still waiting 5s after the adopted session was revoked")
	}
}
