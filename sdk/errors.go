package sdk

import (
	"errors"
	"fmt"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// Code classifies a plugin error. Codes cross the process boundary intact,
// so a host can tell a stale revision from an unreachable store.
type Code string

// The error codes of the plugin contract.
const (
	CodeUnknown         Code = "UNKNOWN"
	CodeExists          Code = "EXISTS"
	CodeNotFound        Code = "NOT_FOUND"
	CodeRevMismatch     Code = "REVISION_MISMATCH"
	CodeSessionExpired  Code = "SESSION_EXPIRED"
	CodeCompacted       Code = "COMPACTED"
	CodeCorrupt         Code = "CORRUPT"
	CodeUnavailable     Code = "UNAVAILABLE"
	CodeInvalidArgument Code = "INVALID_ARGUMENT"
	CodeInvalidConfig   Code = "INVALID_CONFIG"
	CodeDenied          Code = "DENIED"
	CodePermission      Code = "PERMISSION"

	// Outcomes of lock operations, as a host reports them to middleware.
	CodeConflict        Code = "CONFLICT"
	CodeTimeout         Code = "TIMEOUT"
	CodeDeadlock        Code = "DEADLOCK"
	CodeLost            Code = "LOST"
	CodeNotHeld         Code = "NOT_HELD"
	CodeConditionFailed Code = "CONDITION_FAILED"
	CodeClosed          Code = "CLOSED"
)

// Sentinel errors, one per code, for errors.Is.
var (
	// ErrExists: Put with IfAbsent found the key present.
	ErrExists = &Error{Code: CodeExists, Message: "entry exists"}
	// ErrNotFound: the key (or resource) does not exist.
	ErrNotFound = &Error{Code: CodeNotFound, Message: "not found"}
	// ErrRevMismatch: Update or Delete named a revision that is not the
	// entry's current one (it is stale).
	ErrRevMismatch = &Error{Code: CodeRevMismatch, Message: "revision mismatch"}
	// ErrSessionExpired: the session was revoked, expired, or never existed.
	ErrSessionExpired = &Error{Code: CodeSessionExpired, Message: "session expired"}
	// ErrCompacted: Watch asked for revisions the store no longer keeps;
	// the caller must Range again and watch from the range's revision.
	ErrCompacted = &Error{Code: CodeCompacted, Message: "revision compacted"}
	// ErrCorrupt: stored state failed its integrity check. The message names
	// where; Repair fixes it.
	ErrCorrupt = &Error{Code: CodeCorrupt, Message: "state corrupt"}
	// ErrUnavailable: the store cannot be reached now.
	ErrUnavailable = &Error{Code: CodeUnavailable, Message: "store unavailable"}
	// ErrInvalidArgument: a request was malformed.
	ErrInvalidArgument = &Error{Code: CodeInvalidArgument, Message: "invalid argument"}
	// ErrInvalidConfig: Configure was given a config it cannot use.
	ErrInvalidConfig = &Error{Code: CodeInvalidConfig, Message: "invalid config"}
	// ErrDenied: a middleware refused the operation.
	ErrDenied = &Error{Code: CodeDenied, Message: "denied"}
	// ErrPermission: the store's operating system refused access (no
	// permission, a read-only file system). Permanent until an operator
	// changes permissions or config; retrying does not help.
	ErrPermission = &Error{Code: CodePermission, Message: "permission denied by the store"}
)

// Error is a plugin error with a code. errors.Is(err, ErrX) matches any
// *Error with X's code.
type Error struct {
	Code    Code
	Message string
}

// Errorf returns an *Error with code c and a formatted message.
func Errorf(c Code, format string, args ...any) error {
	return &Error{Code: c, Message: fmt.Sprintf(format, args...)}
}

// Error returns the message, without the code.
func (e *Error) Error() string { return e.Message }

// Is matches errors of the same code.
func (e *Error) Is(target error) bool {
	t, ok := target.(*Error)
	return ok && t.Code == e.Code
}

// CodeOf returns err's code: that of the first *Error in its chain, else
// CodeUnknown.
func CodeOf(err error) Code {
	var e *Error
	if errors.As(err, &e) {
		return e.Code
	}
	return CodeUnknown
}

const errorDomain = "locksmith.plugin.v1"

var grpcCodes = map[Code]codes.Code{
	CodeUnknown:         codes.Unknown,
	CodeExists:          codes.AlreadyExists,
	CodeNotFound:        codes.NotFound,
	CodeRevMismatch:     codes.Aborted,
	CodeSessionExpired:  codes.FailedPrecondition,
	CodeCompacted:       codes.OutOfRange,
	CodeCorrupt:         codes.DataLoss,
	CodeUnavailable:     codes.Unavailable,
	CodeInvalidArgument: codes.InvalidArgument,
	CodeInvalidConfig:   codes.InvalidArgument,
	CodeDenied:          codes.PermissionDenied,
	CodePermission:      codes.PermissionDenied,
	CodeConflict:        codes.AlreadyExists,
	CodeTimeout:         codes.DeadlineExceeded,
	CodeDeadlock:        codes.Aborted,
	CodeLost:            codes.FailedPrecondition,
	CodeNotHeld:         codes.FailedPrecondition,
	CodeConditionFailed: codes.FailedPrecondition,
	CodeClosed:          codes.Unavailable,
}

// toStatus converts a plugin-side error into a gRPC status error that
// carries its code.
func toStatus(err error) error {
	if err == nil {
		return nil
	}
	c := CodeOf(err)
	gc, ok := grpcCodes[c]
	if !ok {
		gc = codes.Unknown
	}
	st := status.New(gc, err.Error())
	if d, derr := st.WithDetails(&errdetails.ErrorInfo{Reason: string(c), Domain: errorDomain}); derr == nil {
		st = d
	}
	return st.Err()
}

// fromStatus converts a gRPC error back into an *Error. Transport failures
// (the plugin process is gone, the connection broke) become CodeUnavailable.
func fromStatus(err error) error {
	if err == nil {
		return nil
	}
	st, ok := status.FromError(err)
	if !ok {
		return &Error{Code: CodeUnavailable, Message: err.Error()}
	}
	for _, d := range st.Details() {
		if info, ok := d.(*errdetails.ErrorInfo); ok && info.Domain == errorDomain {
			return &Error{Code: Code(info.Reason), Message: st.Message()}
		}
	}
	switch st.Code() {
	case codes.Unavailable, codes.Canceled, codes.DeadlineExceeded:
		return &Error{Code: CodeUnavailable, Message: st.Message()}
	}
	return &Error{Code: CodeUnknown, Message: st.Message()}
}
