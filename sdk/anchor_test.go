//go:build unix

package sdk

import (
	"context"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"
)

// anchorPair returns both ends of an anchor channel, as host and plugin.
func anchorPair(t *testing.T) (host, plugin *anchorChannel) {
	t.Helper()
	host, peer, err := newAnchorPair()
	if err != nil {
		t.Fatal(err)
	}
	sock, err := anchorSocketFromFile(peer)
	if err != nil {
		t.Fatal(err)
	}
	plugin = newAnchorChannel(sock)
	t.Cleanup(host.close)
	t.Cleanup(plugin.close)
	return host, plugin
}

// TestAnchorChannelCarriesTheLock: an anchor received over the channel is
// the same open file description as the one sent: the flock taken through
// the sender's descriptor outlives it, held by the receiver's copy, and
// anchors are told apart by session id whatever order they arrive in.
func TestAnchorChannelCarriesTheLock(t *testing.T) {
	host, plugin := anchorPair(t)
	dir := t.TempDir()
	open := func(name string) *os.File {
		f, err := os.Create(filepath.Join(dir, name))
		if err != nil {
			t.Fatal(err)
		}
		if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
			t.Fatal(err)
		}
		return f
	}
	a, b := open("a"), open("b")
	if err := plugin.send("session-a", a); err != nil {
		t.Fatal(err)
	}
	if err := plugin.send("session-b", b); err != nil {
		t.Fatal(err)
	}
	_ = a.Close()
	_ = b.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	gotB, err := host.receive(ctx, "session-b")
	if err != nil {
		t.Fatal(err)
	}
	defer gotB.Close()
	gotA, err := host.receive(ctx, "session-a")
	if err != nil {
		t.Fatal(err)
	}
	probe, err := os.Open(filepath.Join(dir, "a"))
	if err != nil {
		t.Fatal(err)
	}
	defer probe.Close()
	if err := syscall.Flock(int(probe.Fd()), syscall.LOCK_SH|syscall.LOCK_NB); err != syscall.EWOULDBLOCK {
		t.Fatalf("probe of a file whose anchor the host holds: %v, want EWOULDBLOCK", err)
	}
	_ = gotA.Close()
	if err := syscall.Flock(int(probe.Fd()), syscall.LOCK_SH|syscall.LOCK_NB); err != nil {
		t.Fatalf("probe once every copy of the anchor is closed: %v, want the lock free", err)
	}
}

// TestAnchorReceiveIsBounded: waiting for an anchor that never comes ends
// with the context, and with an error once the peer has gone.
func TestAnchorReceiveIsBounded(t *testing.T) {
	host, plugin := anchorPair(t)
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if _, err := host.receive(ctx, "never"); err != context.DeadlineExceeded {
		t.Fatalf("receive of an anchor never sent: %v, want the context's deadline", err)
	}
	plugin.close()
	ctx2, cancel2 := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel2()
	if _, err := host.receive(ctx2, "never"); err == nil || ctx2.Err() != nil {
		t.Fatalf("receive after the peer closed: %v (ctx %v), want a channel error at once", err, ctx2.Err())
	}
	var none *anchorChannel
	if err := none.send("x", os.Stdin); err == nil {
		t.Fatal("send without a channel succeeded")
	}
}
