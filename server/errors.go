package server

import (
	"context"
	"errors"
	"net/http"

	"github.com/locksmithx/locksmith/host"
	"github.com/locksmithx/locksmith/sdk"
)

// apiError is the body of every error response. Code is stable (clients
// switch on it); Message is for people.
type apiError struct {
	Code    string `json:"code"`
	Message string `json:"message"`
}

// The stable error codes of the API, beside the HTTP status each comes with.
const (
	codeConflict         = "conflict"            // 409: held, and the request would not wait
	codeTimeout          = "timeout"             // 409: still held when the wait ran out
	codeDeadlock         = "deadlock"            // 409: the request could never be granted
	codeLost             = "lost"                // 410: the lease was lost
	codeNotHeld          = "not_held"            // 404: no such lease (released, expired or never issued)
	codeDenied           = "denied"              // 403: a middleware refused the operation
	codeConditionFailed  = "condition_failed"    // 412
	codeBackend          = "backend_unavailable" // 503
	codeInvalidArgument  = "invalid_argument"    // 400: a well-formed request that cannot be served
	codeMalformed        = "malformed"           // 400: the body is not the JSON the route takes
	codeUnauthorized     = "unauthorized"        // 401: no or unknown bearer token
	codeRateLimited      = "rate_limited"        // 429, with Retry-After
	codeTooLarge         = "too_large"           // 413
	codeUnsupportedMedia = "unsupported_media"   // 415: the body is not application/json
	codeNotFound         = "not_found"           // 404: no such route
	codeMethod           = "method_not_allowed"  // 405
	codeClosed           = "closed"              // 503: the server is shutting down
	codeCorrupt          = "corrupt"             // 500: stored state failed its checks; repair it
	codeInternal         = "internal"            // 500
)

// classify maps an error of the host onto an HTTP status and a stable code.
func classify(err error) (int, string) {
	switch {
	case errors.Is(err, host.ErrConflict):
		return http.StatusConflict, codeConflict
	case errors.Is(err, host.ErrTimeout), errors.Is(err, context.DeadlineExceeded):
		return http.StatusConflict, codeTimeout
	case errors.Is(err, host.ErrDeadlock):
		return http.StatusConflict, codeDeadlock
	case errors.Is(err, host.ErrLost):
		return http.StatusGone, codeLost
	case errors.Is(err, host.ErrNotHeld):
		return http.StatusNotFound, codeNotHeld
	case errors.Is(err, host.ErrDenied):
		return http.StatusForbidden, codeDenied
	case errors.Is(err, host.ErrConditionFailed):
		return http.StatusPreconditionFailed, codeConditionFailed
	case errors.Is(err, host.ErrBackendUnavailable):
		return http.StatusServiceUnavailable, codeBackend
	case errors.Is(err, host.ErrClosed):
		return http.StatusServiceUnavailable, codeClosed
	case errors.Is(err, host.ErrInvalidConfig):
		return http.StatusBadRequest, codeInvalidArgument
	case isCorrupt(err):
		return http.StatusInternalServerError, codeCorrupt
	}
	return http.StatusInternalServerError, codeInternal
}

// writeError answers with status and an apiError.
func writeError(w http.ResponseWriter, status int, code, msg string) {
	writeJSON(w, status, apiError{Code: code, Message: msg})
}

// writeHostError answers with the status and code of a host error.
func writeHostError(w http.ResponseWriter, err error) {
	status, code := classify(err)
	writeError(w, status, code, err.Error())
}

// isCorrupt reports whether err says stored state failed its checks.
func isCorrupt(err error) bool { return errors.Is(err, sdk.ErrCorrupt) }
