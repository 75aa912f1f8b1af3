package sdk

import (
	"context"
	"time"
)

// Phase is when a middleware sees an operation.
type Phase int

// The phases. BEFORE runs in config order before the backend call; AFTER
// runs in reverse order after it. Notifications (a lost lock, a renewed
// session, a changed resource) are AFTER calls of an operation of their
// own (OpLost, OpRenew, OpChange).
const (
	Before Phase = iota
	After
)

func (p Phase) String() string {
	if p == After {
		return "after"
	}
	return "before"
}

// The operations a middleware sees, in Interception.Op.
const (
	OpAcquire = "acquire"
	OpRelease = "release"
	OpConvert = "convert"
	// OpStatus reads a resource's queue: the one read a middleware may
	// answer (Respond in BEFORE) or transform (Respond in AFTER).
	OpStatus = "status"
	OpCheck  = "check"
	OpRepair = "repair"
	// OpRenew: the host renewed its session (AFTER only; Resource is "").
	OpRenew = "renew"
	// OpLost: a lease of the host was lost (AFTER only; Result says why).
	OpLost = "lost"
	// OpChange: a resource the host follows for the chain changed
	// (AFTER only; Revision is the change's revision). A cache drops what
	// it holds of the resource.
	OpChange = "change"
)

// IsRead reports whether op only reads lock state.
func IsRead(op string) bool { return op == OpStatus || op == OpCheck }

// Interception is one operation as a middleware sees it.
type Interception struct {
	Phase     Phase
	Op        string
	Resource  string
	Mode      string
	Principal string
	// PID and Host name the host process the request comes from.
	PID  int
	Host string
	// Metadata is the lock request's metadata as the chain has left it so
	// far.
	Metadata map[string]string
	// Result is "" on success and the error text otherwise (AFTER only);
	// ResultCode is the error's code.
	Result       string
	ResultCode   Code
	FencingToken int64
	// Response is a read's answer, JSON-encoded, in AFTER (see
	// EditStatusMeta for the shape of a status answer).
	Response []byte
	// Latency is how long the operation took, BEFORE included (AFTER).
	Latency time.Duration
	// Revision is the revision of an OpChange.
	Revision int64
}

// Action is a middleware's verdict.
type Action int

// The actions.
const (
	// Continue lets the operation go on (with Metadata, when set).
	Continue Action = iota
	// Deny stops the operation with Reason (BEFORE).
	Deny
	// Respond answers a read operation without the backend (BEFORE), or
	// replaces a read's answer (AFTER). It is refused for anything but a
	// read.
	Respond
)

// Verdict is what Intercept returns.
type Verdict struct {
	Action Action
	Reason string
	// Metadata, when RewriteMetadata is set, replaces the operation's
	// metadata for the rest of the chain and the backend.
	Metadata        map[string]string
	RewriteMetadata bool
	// Response is the answer of a Respond verdict, JSON-encoded.
	Response []byte
}

// Middleware is the contract of middleware plugins (audit, crypto, RBAC,
// cache). It never talks to a backend. Its Info lists in Points the
// lifecycle points it is called at (see the hooks package); the host
// calls it at those alone, or at every point when it lists none.
type Middleware interface {
	Plugin
	// Intercept is called at each point the middleware declared. It may
	// be called concurrently.
	Intercept(ctx context.Context, in Interception) (Verdict, error)
}

// CapFailClosed is a capability a middleware announces when a failure of
// it must always refuse the operation, whatever its on_error says (RBAC,
// crypto): a host ignores on_error: fail_open for it.
const CapFailClosed = "fail_closed"
