package server

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/locksmithx/locksmith/host"
)

// Lease states as the API reports them.
const (
	stateHeld     = "held"
	stateReleased = "released"
	stateLost     = "lost"
)

// Tombstones: an ended lease is still reported (released, or lost with its
// cause) for a while, so a client that renews too late learns why.
const (
	tombstoneTTL = 10 * time.Minute
	maxTombs     = 10000
)

// errNotRenewed is the cause of an HTTP lease its client stopped renewing.
var errNotRenewed = errors.New("lease not renewed within its ttl")

// httpLease is a lease held on behalf of an HTTP client. It ends when the
// client releases it, when the client does not renew it within its TTL,
// or when the host loses it.
type httpLease struct {
	ID        string    `json:"lease_id"`
	Resource  string    `json:"resource"`
	Mode      string    `json:"mode"`
	Token     int64     `json:"fencing_token"`
	Backend   string    `json:"backend"`
	Principal string    `json:"principal,omitempty"`
	Acquired  time.Time `json:"acquired"`
	TTL       duration  `json:"ttl"`
	Expires   time.Time `json:"expires"`
	State     string    `json:"state"`
	Error     string    `json:"error,omitempty"`

	lease *host.Lease
	timer *time.Timer
	ended time.Time
}

// leaseTable holds the server's HTTP leases by id.
type leaseTable struct {
	feed *feed

	mu    sync.Mutex
	live  map[string]*httpLease
	tombs map[string]*httpLease
}

func newLeaseTable(f *feed) *leaseTable {
	return &leaseTable{feed: f, live: map[string]*httpLease{}, tombs: map[string]*httpLease{}}
}

// add starts tracking l for a client that must renew it within ttl.
func (t *leaseTable) add(l *host.Lease, principal string, ttl time.Duration) httpLease {
	now := time.Now()
	hl := &httpLease{ID: newLeaseID(), Resource: l.Resource(), Mode: l.Mode().String(), Token: l.Token(), Backend: l.Backend(),
		Principal: principal, Acquired: now, TTL: duration(ttl), Expires: now.Add(ttl), State: stateHeld, lease: l}
	t.mu.Lock()
	t.live[hl.ID] = hl
	hl.timer = time.AfterFunc(ttl, func() { t.expire(hl.ID) })
	snap := *hl
	t.mu.Unlock()
	go t.follow(hl)
	return snap
}

// follow ends hl's entry when the host loses its lease.
func (t *leaseTable) follow(hl *httpLease) {
	<-hl.lease.Done()
	if cause := hl.lease.Lost(); cause != nil {
		t.end(hl.ID, stateLost, cause)
	}
}

// expire releases a lease whose client stopped renewing it and reports it
// lost.
func (t *leaseTable) expire(id string) {
	t.mu.Lock()
	hl := t.live[id]
	if hl == nil || time.Now().Before(hl.Expires) {
		t.mu.Unlock()
		return
	}
	snap := *hl
	t.mu.Unlock()
	cause := fmt.Errorf("%w: %w (%s)", host.ErrLost, errNotRenewed, time.Duration(snap.TTL))
	if !t.end(id, stateLost, cause) {
		return
	}
	t.feed.publish(Event{Kind: "lost", Resource: snap.Resource, Mode: snap.Mode, Token: snap.Token,
		HeldMS: ms(time.Since(snap.Acquired)), Error: cause.Error(), LeaseID: id}, cause)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_ = hl.lease.Release(ctx)
}

// end moves a live lease to the tombstones with state and cause. It
// reports whether the lease was live.
func (t *leaseTable) end(id, state string, cause error) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	hl := t.live[id]
	if hl == nil {
		return false
	}
	delete(t.live, id)
	hl.timer.Stop()
	hl.State, hl.ended = state, time.Now()
	if cause != nil {
		hl.Error = cause.Error()
	}
	t.tombs[id] = hl
	t.pruneLocked()
	return true
}

func (t *leaseTable) pruneLocked() {
	now := time.Now()
	for id, hl := range t.tombs {
		if now.Sub(hl.ended) > tombstoneTTL || len(t.tombs) > maxTombs {
			delete(t.tombs, id)
		}
	}
}

// view returns a copy of lease id as the principal may see it: live or a
// tombstone. A lease of another principal is not found.
func (t *leaseTable) view(id, principal string) (httpLease, bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	hl := t.live[id]
	if hl == nil {
		hl = t.tombs[id]
	}
	if hl == nil || hl.Principal != principal {
		return httpLease{}, false
	}
	if hl.State == stateHeld {
		hl.Mode = hl.lease.Mode().String()
	}
	return *hl, true
}

// lease returns the live host lease id of principal.
func (t *leaseTable) lease(id, principal string) (*host.Lease, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	hl := t.live[id]
	if hl == nil || hl.Principal != principal {
		if tomb := t.tombs[id]; tomb != nil && tomb.Principal == principal {
			return nil, endedErr(tomb)
		}
		return nil, fmt.Errorf("lease %s: %w", id, host.ErrNotHeld)
	}
	return hl.lease, nil
}

// renew pushes a live lease's expiry one TTL ahead.
func (t *leaseTable) renew(id, principal string) (httpLease, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	hl := t.live[id]
	if hl == nil || hl.Principal != principal {
		if tomb := t.tombs[id]; tomb != nil && tomb.Principal == principal {
			return *tomb, endedErr(tomb)
		}
		return httpLease{}, fmt.Errorf("renew lease %s: %w", id, host.ErrNotHeld)
	}
	ttl := time.Duration(hl.TTL)
	hl.Expires = time.Now().Add(ttl)
	hl.timer.Reset(ttl)
	return *hl, nil
}

// endedErr says why a tombstoned lease is no longer held.
func endedErr(hl *httpLease) error {
	if hl.State == stateLost {
		return fmt.Errorf("lease %s: %w: %s", hl.ID, host.ErrLost, hl.Error)
	}
	return fmt.Errorf("lease %s was released: %w", hl.ID, host.ErrNotHeld)
}

// list returns the principal's live leases.
func (t *leaseTable) list(principal string, all bool) []httpLease {
	t.mu.Lock()
	defer t.mu.Unlock()
	out := []httpLease{}
	for _, hl := range t.live {
		if all || hl.Principal == principal {
			hl.Mode = hl.lease.Mode().String()
			out = append(out, *hl)
		}
	}
	return out
}

// release releases a live lease of principal.
func (t *leaseTable) release(ctx context.Context, id, principal string) (httpLease, error) {
	t.mu.Lock()
	hl := t.live[id]
	if hl == nil || hl.Principal != principal {
		tomb := t.tombs[id]
		t.mu.Unlock()
		if tomb != nil && tomb.Principal == principal {
			return *tomb, endedErr(tomb)
		}
		return httpLease{}, fmt.Errorf("release lease %s: %w", id, host.ErrNotHeld)
	}
	t.mu.Unlock()
	err := hl.lease.Release(ctx)
	if err != nil && !errors.Is(err, host.ErrNotHeld) {
		return httpLease{}, err
	}
	state, cause := stateReleased, error(nil)
	if lost := hl.lease.Lost(); lost != nil {
		state, cause = stateLost, lost
	}
	t.end(id, state, cause)
	t.mu.Lock()
	snap := *hl
	t.mu.Unlock()
	if state == stateLost {
		return snap, endedErr(&snap)
	}
	return snap, nil
}

// releaseAll releases every live lease (server shutdown).
func (t *leaseTable) releaseAll(ctx context.Context) error {
	t.mu.Lock()
	ids := make([]*httpLease, 0, len(t.live))
	for _, hl := range t.live {
		ids = append(ids, hl)
	}
	t.mu.Unlock()
	var errs []error
	for _, hl := range ids {
		if err := hl.lease.Release(ctx); err != nil && !errors.Is(err, host.ErrNotHeld) {
			errs = append(errs, err)
		}
		t.end(hl.ID, stateReleased, nil)
	}
	return errors.Join(errs...)
}

func newLeaseID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// duration is a time.Duration that travels as a Go duration string
// ("30s", "1m30s").
type duration time.Duration

func (d duration) MarshalText() ([]byte, error) { return []byte(time.Duration(d).String()), nil }

func (d *duration) UnmarshalText(b []byte) error {
	v, err := time.ParseDuration(string(b))
	if err != nil {
		return fmt.Errorf("%q is not a duration (like 500ms, 30s, 2m)", b)
	}
	*d = duration(v)
	return nil
}
