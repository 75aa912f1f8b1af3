package sdk

import (
	"context"
	"errors"
	"fmt"
	"os"
	"sync"
	"time"
)

// Session anchors cross between host and plugin on an anchor channel: a
// unix socket pair made by Launch, one end inherited by the plugin (its
// descriptor named by LOCKSMITH_PLUGIN_ANCHOR_FD), like the TLS pipe. Each
// message is one session id as data and one file descriptor as
// SCM_RIGHTS. The plugin sends the anchor of a session it opened before it
// answers OpenSession; the host sends it back to a restarted plugin before
// it calls AdoptSession. A plugin started by a stock go-plugin host has no
// channel, and its sessions have no anchor.

// anchorFDEnv names the environment variable that tells the plugin which
// file descriptor is its end of the anchor channel.
const anchorFDEnv = "LOCKSMITH_PLUGIN_ANCHOR_FD"

// anchorWait bounds how long a receiver waits for an anchor that its peer
// said it sent: the message is queued in the kernel before the RPC that
// announces it is answered, so it is there at once unless something broke.
const anchorWait = 5 * time.Second

// errNoAnchorChannel: the peer has no anchor channel.
var errNoAnchorChannel = errors.New("no anchor channel")

// anchorChannel is one end of an anchor channel. A reader goroutine takes
// every message as it arrives and files its anchor under its session id
// until a receive claims it. It is safe for concurrent use.
type anchorChannel struct {
	sock anchorSocket

	sendMu sync.Mutex

	mu      sync.Mutex
	got     map[string]*os.File
	changed chan struct{} // closed and replaced whenever got changes or the reader ends
	err     error         // why the reader ended
}

// anchorSocket is the platform's socket under an anchor channel.
type anchorSocket interface {
	send(id string, f *os.File) error
	recv() (string, *os.File, error)
	close() error
}

func newAnchorChannel(sock anchorSocket) *anchorChannel {
	c := &anchorChannel{sock: sock, got: map[string]*os.File{}, changed: make(chan struct{})}
	go c.read()
	return c
}

// read files incoming anchors until the socket fails or closes.
func (c *anchorChannel) read() {
	for {
		id, f, err := c.sock.recv()
		c.mu.Lock()
		if err != nil {
			c.err = err
			close(c.changed)
			c.changed = make(chan struct{})
			c.mu.Unlock()
			return
		}
		if old := c.got[id]; old != nil {
			_ = old.Close()
		}
		c.got[id] = f
		close(c.changed)
		c.changed = make(chan struct{})
		c.mu.Unlock()
	}
}

// send sends a copy of f as the anchor of session id; the caller keeps f.
func (c *anchorChannel) send(id string, f *os.File) error {
	if c == nil {
		return errNoAnchorChannel
	}
	c.sendMu.Lock()
	defer c.sendMu.Unlock()
	if err := c.sock.send(id, f); err != nil {
		return fmt.Errorf("send anchor of session %s: %w", id, err)
	}
	return nil
}

// receive returns the anchor of session id, waiting for it until ctx ends
// or anchorWait passes. The caller owns the returned file.
func (c *anchorChannel) receive(ctx context.Context, id string) (*os.File, error) {
	if c == nil {
		return nil, errNoAnchorChannel
	}
	timer := time.NewTimer(anchorWait)
	defer timer.Stop()
	for {
		c.mu.Lock()
		f := c.got[id]
		delete(c.got, id)
		changed, rerr := c.changed, c.err
		c.mu.Unlock()
		if f != nil {
			return f, nil
		}
		if rerr != nil {
			return nil, fmt.Errorf("receive anchor of session %s: channel closed: %w", id, rerr)
		}
		select {
		case <-changed:
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-timer.C:
			return nil, fmt.Errorf("receive anchor of session %s: none arrived within %s", id, anchorWait)
		}
	}
}

// close closes the channel and every anchor received and not claimed. It
// can safely be called more than once.
func (c *anchorChannel) close() {
	if c == nil {
		return
	}
	_ = c.sock.close()
	c.mu.Lock()
	defer c.mu.Unlock()
	for id, f := range c.got {
		_ = f.Close()
		delete(c.got, id)
	}
}
