package main

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/locksmithx/locksmith/host"
	"github.com/locksmithx/locksmith/sdk"
)

// notObtained is exec's error when the lock was not obtained, with its
// exit code: conflictExit only for a genuine conflict or timeout (naming
// the holders); 2 for an invalid request or another permanent failure,
// which retrying cannot cure; 69 for a plugin that is not one; 75 for what
// may pass (the backend unreachable, the session lost, a denial).
func notObtained(h *host.Host, resource string, err error, conflictExit int) error {
	if errors.Is(err, host.ErrConflict) || errors.Is(err, host.ErrTimeout) {
		return &exitError{code: conflictExit, err: heldBy(h, resource, err)}
	}
	if permanent(err) {
		hint := ""
		if sdk.CodeOf(err) == sdk.CodeCorrupt {
			hint = "; run: locksmith repair " + resource
			if strings.HasSuffix(err.Error(), "run repair") {
				hint = ": locksmith repair " + resource
			}
		}
		return &exitError{code: exitUsage, err: fmt.Errorf("lock %s not obtained, and retrying will not help: %w%s", resource, err, hint)}
	}
	return startFailure(fmt.Errorf("lock %s not obtained: %w", resource, err), exitNotLocked)
}

// startFailure is err with the exit code its kind calls for, when a host
// could not start or serve a request: 2 for invalid config or requests
// and permanent failures, 69 for a plugin that is not one; passing for a
// failure that may pass.
func startFailure(err error, passing int) error {
	switch {
	case errors.Is(err, host.ErrInvalidArgument), errors.Is(err, host.ErrInvalidConfig), errors.Is(err, host.ErrPluginChecksum):
		return &exitError{code: exitUsage, err: err}
	case pluginBroken(err):
		return &exitError{code: exitUnavailable, err: fmt.Errorf("%s; check its path", firstLine(err.Error()))}
	case permanent(err):
		return &exitError{code: exitUsage, err: fmt.Errorf("%w (a permanent failure: retrying will not help)", err)}
	}
	return &exitError{code: passing, err: err}
}

// pluginBroken reports whether err says a plugin binary ran but is not a
// locksmith plugin: it did not complete the handshake in time.
func pluginBroken(err error) bool {
	return errors.Is(err, host.ErrPluginBroken) || errors.Is(err, sdk.ErrNotPlugin)
}

// permanent reports whether err is a backend's answer that retrying cannot
// change: a malformed request, a corrupt store, a refused path.
func permanent(err error) bool {
	var e *sdk.Error
	if !errors.As(err, &e) {
		return false
	}
	switch e.Code {
	case sdk.CodeUnavailable, sdk.CodeSessionExpired, sdk.CodeUnknown, sdk.CodeDenied,
		sdk.CodeExists, sdk.CodeNotFound, sdk.CodeRevMismatch, sdk.CodeCompacted:
		return false
	}
	return true
}

// heldBy explains a conflict or timeout, naming the holders.
func heldBy(h *host.Host, resource string, err error) error {
	why := "is held"
	if errors.Is(err, host.ErrTimeout) {
		why = "is still held after --wait"
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	st, serr := h.Status(ctx, resource)
	if serr != nil || len(st.Holders) == 0 {
		return fmt.Errorf("lock %s not obtained: %w", resource, err)
	}
	var by []string
	for _, r := range st.Holders {
		by = append(by, fmt.Sprintf("%s by pid %d on %s for %s (token %d)", r.Mode, r.PID, r.Host, humanDuration(r.Age), r.Token))
	}
	return fmt.Errorf("%s %s: %s", resource, why, strings.Join(by, "; "))
}

func firstLine(s string) string {
	s, _, _ = strings.Cut(strings.TrimSpace(s), "\n")
	return strings.TrimRight(s, " :")
}
