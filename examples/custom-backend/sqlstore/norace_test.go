//go:build !race

package sqlstore_test

import "time"

// waitBound is backendtest's bound on every wait: its default.
const waitBound = 10 * time.Second
