package host

import (
	"context"
	"time"

	"github.com/locksmithx/locksmith/sdk"
)

// Request is one lock request on a resource as Status reports it: a
// holder if Granted, else a waiter.
type Request struct {
	Key      string            `json:"key"`
	Session  string            `json:"session"`
	Mode     string            `json:"mode"`
	Granted  bool              `json:"granted"`
	Token    int64             `json:"fencing_token"`
	PID      int               `json:"pid,omitempty"`
	Host     string            `json:"host,omitempty"`
	Created  time.Time         `json:"created"`
	Age      time.Duration     `json:"age_ns"`
	Meta     map[string]string `json:"meta,omitempty"`
	Position int               `json:"position"`
}

// ResourceStatus is a resource's queue at one revision.
type ResourceStatus struct {
	Resource string `json:"resource"`
	// Backend names the backend whose queue this is.
	Backend  string    `json:"backend,omitempty"`
	Revision int64     `json:"revision"`
	Holders  []Request `json:"holders"`
	Waiters  []Request `json:"waiters"`
}

// Status reads the queue of a resource key: who holds it and who waits,
// in order. It takes no lock.
// The read passes through the hooks chain: a middleware may answer it
// or transform its answer.
func (h *Host) Status(ctx context.Context, resource string) (ResourceStatus, error) {
	return h.statusThrough(ctx, resource, h.readStatus)
}

// readStatus reads the queue of resource from the backend.
func (h *Host) readStatus(ctx context.Context, resource string) (ResourceStatus, error) {
	slot, err := h.slotFor(ctx)
	if err != nil {
		return ResourceStatus{}, err
	}
	g, err := slot.sup.get(ctx)
	if err != nil {
		return ResourceStatus{}, err
	}
	r, err := g.backend.Range(ctx, resource)
	if err != nil {
		return ResourceStatus{}, backendErr("status "+resource, err)
	}
	return statusOf(slot.name, resource, r), nil
}

// statusOf is the status of resource, read from its range r on backend.
func statusOf(backend, resource string, r sdk.RangeResult) ResourceStatus {
	q := newQueue(r.Entries)
	st := ResourceStatus{Resource: resource, Backend: backend, Revision: r.Rev, Holders: []Request{}, Waiters: []Request{}}
	now := time.Now()
	for i, req := range q {
		out := Request{Key: req.Key, Session: req.Session, Mode: req.mode.String(), Granted: q.grantedAt(i),
			Token: req.CreateRev, PID: req.info.PID, Host: req.info.Host, Created: req.created(),
			Age: now.Sub(req.created()), Meta: req.info.Meta, Position: i}
		if out.Granted {
			st.Holders = append(st.Holders, out)
		} else {
			st.Waiters = append(st.Waiters, out)
		}
	}
	return st
}
