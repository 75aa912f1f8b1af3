package host

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/locksmithx/locksmith/config"
)

// Config returns the config in force, with its secrets (bearer tokens,
// plugin settings named like passwords, tokens, keys) replaced by
// config.Redacted. The copy is the caller's. It is for showing: passed
// back to UpdateConfig, the redacted values would replace the secrets.
func (h *Host) Config() config.Config { return h.pipe.Load().cfg.Redacted() }

// UpdateConfig replaces the host's config while it runs. It validates cfg,
// then builds the new pipeline beside the old one: the backends and the
// middleware chain cfg runs, keeping running each plugin whose binary and
// config did not change, and starting and health-checking the others. Only
// when all of that succeeded does it swap the new pipeline in, atomically:
// requests that start afterwards use it.
//
// A held lease stays on the backend that granted it until it is released
// or migrated (Lease.Migrate). While requests or leases routed to a former
// default backend remain, new requests that choose no backend lock that
// backend too (in the order of the backends' names), so that a resource is
// never granted on two backends at once; a backend no config runs any more
// is stopped once its last lease has ended.
//
// On any error nothing changes, the old pipeline keeps serving, and the
// error (wrapping ErrInvalidConfig for a config that does not validate,
// or the cause of the failed start or check) says why. Every swap and
// every refusal is an event (EventConfigSwapped, EventConfigRefused) and a
// log line. Calls are serialised; it waits for plugins to start, within
// ctx.
func (h *Host) UpdateConfig(ctx context.Context, cfg config.Config) error {
	h.swapMu.Lock()
	defer h.swapMu.Unlock()
	h.mu.Lock()
	closed := h.closed
	h.mu.Unlock()
	if closed {
		return ErrClosed
	}
	start := time.Now()
	err := h.swap(ctx, cfg)
	if err != nil {
		h.log.Error("config refused; the running config stays", "error", err)
		h.note(Event{Kind: EventConfigRefused, Plugin: h.BackendName(), Err: err, Wait: time.Since(start)})
		return err
	}
	return nil
}

func (h *Host) swap(ctx context.Context, cfg config.Config) error {
	if err := cfg.Validate(); err != nil {
		return fmt.Errorf("update config: %w: %w", ErrInvalidConfig, err)
	}
	old := h.pipe.Load()
	next, err := h.buildPipeline(ctx, cfg, old)
	if err != nil {
		return fmt.Errorf("update config: %w", err)
	}
	for _, s := range next.slots {
		s.mu.Lock()
		s.retired = false
		s.mu.Unlock()
	}
	h.pipe.Store(next)
	for _, s := range next.claimed {
		h.unhold(s, false)
	}
	kept, started, retired := 0, []string{}, []string{}
	for name, s := range next.slots {
		if old.slots[name] == s || slices.Contains(next.claimed, s) {
			kept++
		} else {
			started = append(started, name)
		}
	}
	for name, s := range old.slots {
		if next.slots[name] != s {
			retired = append(retired, name)
			h.retire(s)
		}
	}
	old.retireChain(next)
	h.log.Info("config swapped", "backend", cfg.Backend, "migrate_from", cfg.MigrateFrom,
		"backends", strings.Join(cfg.Running(), ","), "middleware", strings.Join(cfg.Middleware, ","),
		"kept", kept, "started", strings.Join(started, ","), "retired", strings.Join(retired, ","))
	h.note(Event{Kind: EventConfigSwapped, Plugin: cfg.Backend})
	return nil
}
