//go:build race

package sqlstore_test

import "time"

// waitBound is backendtest's bound on every wait. The race detector makes
// the pure-Go SQLite some 40 times slower (ConcurrentMutualExclusion: 0.2 s
// without it, 8 s with it), past the suite's default of 10 s.
const waitBound = 60 * time.Second
