package backendtest

import (
	"testing"
	"time"

	"github.com/locksmithx/locksmith/sdk"
)

// Option tunes Run.
type Option func(*config)

type config struct {
	ttl       time.Duration
	slack     time.Duration
	timeout   time.Duration
	clients   int
	inProcess bool
	grpc      bool
	crash     func(t *testing.T, b sdk.Backend)
	restart   func(t *testing.T, b sdk.Backend) sdk.Backend
	shared    bool
}

func defaultConfig() config {
	return config{
		ttl:       2 * time.Second,
		slack:     2 * time.Second,
		timeout:   10 * time.Second,
		clients:   16,
		inProcess: true,
		grpc:      true,
	}
}

// WithSessionTTL sets the TTL of the sessions the expiry checks open
// (default 2s). A store that rounds TTLs up needs a larger value, or the
// checks take as long as the rounded TTL.
func WithSessionTTL(d time.Duration) Option { return func(c *config) { c.ttl = d } }

// WithSlack sets how long after its TTL an expired session's entries may
// still be visible (default 2s). A store that removes expired entries by a
// periodic sweep needs at least its sweep interval.
func WithSlack(d time.Duration) Option { return func(c *config) { c.slack = d } }

// WithTimeout bounds every single wait of a check: a call, an expected
// watch event (default 10s). A backend that hangs fails the check after it.
func WithTimeout(d time.Duration) Option { return func(c *config) { c.timeout = d } }

// WithClients sets how many concurrent clients the concurrency checks run
// (default 16).
func WithClients(n int) Option { return func(c *config) { c.clients = n } }

// WithoutGRPC runs the suite only against the backend as the factory
// returns it. Use it when that is already a gRPC client of a plugin process
// (one started with sdk.Launch); the checks that need a second connection
// to the same backend are then skipped.
func WithoutGRPC() Option { return func(c *config) { c.grpc = false } }

// WithOnlyGRPC runs the suite only through the gRPC connection.
func WithOnlyGRPC() Option { return func(c *config) { c.inProcess = false } }

// WithCrash gives the suite a way to crash a backend the factory returned,
// as a plugin process dies under kill -9: crash must leave the store's
// sessions as they are (no revocation), and the backend unusable. With it,
// a backend that announces sdk.CapAdopt is checked to adopt the sessions of
// a crashed backend from a fresh one; without it those checks are skipped.
func WithCrash(crash func(t *testing.T, b sdk.Backend)) Option {
	return func(c *config) { c.crash = crash }
}

// WithRestart gives the suite a way to restart a backend the factory
// returned: restart stops b (as its plugin process stops) and returns a new
// backend on the same store. With it, a backend that announces
// sdk.CapPersistent is checked to keep its entries and revisions across the
// restart; without it that check is skipped.
func WithRestart(restart func(t *testing.T, b sdk.Backend) sdk.Backend) Option {
	return func(c *config) { c.restart = restart }
}

// WithSharedStore says that the backends the factory returns share one
// backing store (one file, one server), as the plugin processes of several
// hosts do. With it the suite checks that instances see each other's
// writes, in Range and Watch, and that sessions live in the store; without
// it that check is skipped.
func WithSharedStore() Option { return func(c *config) { c.shared = true } }
