//go:build !race

package sqlstore_test

import "time"

// The suite's defaults: its bound on every wait and its concurrent clients.
const (
	waitBound = 10 * time.Second
	clients   = 16
)
