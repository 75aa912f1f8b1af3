package host

import (
	"errors"
	"fmt"

	"github.com/locksmithx/locksmith/sdk"
)

// Errors returned by the host. Compare with errors.Is; the returned errors
// wrap these with context naming the resource and cause.
var (
	// ErrConflict: the lock is held incompatibly and the caller asked not
	// to wait.
	ErrConflict = errors.New("locksmith: lock is held")
	// ErrTimeout: the wait for the lock ended at the caller's deadline.
	ErrTimeout = errors.New("locksmith: timed out waiting for lock")
	// ErrLost: a lease ended without being released: its session could not
	// be renewed in time, or the backend or its plugin went away.
	ErrLost = errors.New("locksmith: lock lost")
	// ErrNotHeld: Release (or Convert) of a lease that is no longer held.
	ErrNotHeld = errors.New("locksmith: lock not held")
	// ErrDeadlock: the request could never be granted (a wait-for cycle).
	ErrDeadlock = errors.New("locksmith: deadlock")
	// ErrDenied: a middleware refused the operation.
	ErrDenied = errors.New("locksmith: denied")
	// ErrBackendUnavailable: the backend or its plugin cannot serve now.
	ErrBackendUnavailable = errors.New("locksmith: backend unavailable")
	// ErrInvalidConfig: the configuration is unusable.
	ErrInvalidConfig = errors.New("locksmith: invalid config")
	// ErrInvalidArgument: a request is malformed (an empty or unusable
	// resource name, a symlink loop); retrying it cannot succeed.
	ErrInvalidArgument = errors.New("locksmith: invalid argument")
	// ErrPluginChecksum: a plugin binary does not match its configured
	// sha256; it was not started.
	ErrPluginChecksum = errors.New("locksmith: plugin checksum mismatch")
	// ErrPluginBroken: a configured plugin program is not a Locksmith
	// plugin: it exited, printed something else, or did not complete its
	// handshake in time. It was stopped; check its path.
	ErrPluginBroken = errors.New("locksmith: plugin broken")
	// ErrConditionFailed: a conditional lock's condition was false once the
	// lock was held; the lock was released.
	ErrConditionFailed = errors.New("locksmith: lock condition failed")
	// ErrClosed: the host was closed.
	ErrClosed = errors.New("locksmith: host closed")
)

// backendErr maps a backend error onto the host's errors: an unreachable
// store becomes ErrBackendUnavailable; others keep their sdk code in the
// chain.
func backendErr(op string, err error) error {
	if err == nil {
		return nil
	}
	switch sdk.CodeOf(err) {
	case sdk.CodeUnavailable:
		return fmt.Errorf("%s: %w: %w", op, ErrBackendUnavailable, err)
	case sdk.CodeInvalidConfig:
		return fmt.Errorf("%s: %w: %w", op, ErrInvalidConfig, err)
	case sdk.CodeInvalidArgument:
		return fmt.Errorf("%s: %w: %w", op, ErrInvalidArgument, err)
	case sdk.CodeDenied:
		return fmt.Errorf("%s: %w: %w", op, ErrDenied, err)
	}
	return fmt.Errorf("%s: %w", op, err)
}
