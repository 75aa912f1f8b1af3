//go:build race

package sqlstore_test

import "time"

// The race detector makes the pure-Go SQLite some 40 times slower
// (ConcurrentMutualExclusion: 0.2 s without it, 8 s with it on a quiet
// machine), so the suite waits longer and runs fewer concurrent clients,
// whose wake-ups cost clients² reads.
const (
	waitBound = 60 * time.Second
	clients   = 6
)
