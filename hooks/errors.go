package hooks

import (
	"errors"
	"fmt"
)

var (
	// ErrDenied is wrapped by every Denial.
	ErrDenied = errors.New("hooks: denied")
	// ErrUnknownPoint: a hook declared a point this package does not know.
	ErrUnknownPoint = errors.New("hooks: unknown point")
	// ErrBadVerdict: a hook answered an operation that is not a read.
	ErrBadVerdict = errors.New("hooks: a hook answered an operation only a read may be answered for")
)

// Denial is the error of an operation the chain refused: a hook denied it
// (Reason), or failed while it is fail-closed (Err).
type Denial struct {
	// Hook names the hook that decided.
	Hook   string
	Reason string
	Err    error
}

// Error is the reason, or the failure of a fail-closed hook.
func (d *Denial) Error() string {
	if d.Err != nil {
		return fmt.Sprintf("%s failed (fail_closed): %v", d.Hook, d.Err)
	}
	return d.Reason
}

// Unwrap returns ErrDenied and the hook's failure, if any.
func (d *Denial) Unwrap() []error {
	if d.Err != nil {
		return []error{ErrDenied, d.Err}
	}
	return []error{ErrDenied}
}
