package sdk

import "context"

// Phase is when a middleware sees an operation.
type Phase int

// The phases. BEFORE runs in config order before the backend call; AFTER
// runs in reverse order after it.
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

// Interception is one operation as a middleware sees it.
type Interception struct {
	Phase     Phase
	Op        string
	Resource  string
	Mode      string
	Principal string
	Metadata  map[string]string
	// Result is "" on success and the error text otherwise (AFTER only);
	// ResultCode is the error's code.
	Result       string
	ResultCode   Code
	FencingToken int64
}

// Action is a middleware's verdict.
type Action int

// The actions.
const (
	// Continue lets the operation go on (with Metadata, when set).
	Continue Action = iota
	// Deny stops the operation with Reason.
	Deny
	// Respond answers a read operation without the backend.
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
// cache). It never talks to a backend.
type Middleware interface {
	Plugin
	// Intercept is called twice per operation, once per phase.
	Intercept(ctx context.Context, in Interception) (Verdict, error)
}
